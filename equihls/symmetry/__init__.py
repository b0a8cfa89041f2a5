"""Symmetry mathematics, independent of the compiler: group elements (`groups`), O(3) irreps and Clebsch-Gordan
coefficients (`o3`), Lorentz irreps (m,n) (`lorentz`)."""
