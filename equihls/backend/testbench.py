"""The project's testbench (<top>_test.cpp): every tb_data event through the top function, each
output compared bit for bit with the expected raw bits, exit 1 on any mismatch, so Vitis HLS
`csim_design` (and any g++ build of the project) fails on firmware that does not compute what
the compiler certified.

tb_data/tb_output_bits.dat holds, per event, the two's-complement raw value (value x 2^frac,
W bits, hex) of every output element, outputs in port order, elements flattened; it comes from
the numpy twin's raw integers, so outputs wider than a double compare exactly too. The inputs
are read from hls4ml's tb_input_features.dat as doubles (the quantised samples, exact in a
double) and converted as the bridge converts them. csim_results.log is still written as hls4ml's
testbench writes it."""
from __future__ import annotations

import os

import numpy as np

from ..project import LAYOUT


def raw_hex(raw, width: int) -> list[str]:
    """Raw integers (any int array, int64 or object) -> hex strings of their W-bit two's complement."""
    mask = (1 << width) - 1
    return [format(int(v) & mask, "x") for v in np.asarray(raw).ravel()]


def write_expected_bits(path: str, raws: list, widths: list):
    """raws: per output, raw integers [events, elements]; widths: the outputs' W. One line per event."""
    n = len(raws[0])
    with open(path, "w") as f:
        for e in range(n):
            f.write(" ".join(h for r, w in zip(raws, widths) for h in raw_hex(r[e], w)) + "\n")


def testbench_cpp(top: str, inputs: list, outputs: list) -> str:
    """C++ of the testbench. inputs: (C type, per-event size); outputs: (C type, size, width W)."""
    decl_in = "\n".join(f"        {t} in{k}[{s}];" for k, (t, s) in enumerate(inputs))
    read_in = "\n".join(f"        for (int i = 0; i < {s}; i++) in{k}[i] = x[pos++];"
                        for k, (t, s) in enumerate(inputs))
    n_in = sum(s for _, s in inputs)
    n_out = sum(s for _, s, _ in outputs)
    decl_out = "\n".join(f"        {t} out{k}[{s}];" for k, (t, s, _) in enumerate(outputs))
    call = ", ".join([f"in{k}" for k in range(len(inputs))] + [f"out{k}" for k in range(len(outputs))])
    compare = "\n".join(
        f"        for (int i = 0; i < {s}; i++, pos++) {{\n"
        f"            ap_uint<{w}> got = out{k}[i].range({w - 1}, 0);\n"
        f"            ap_uint<{w}> want(bits[pos].c_str(), 16);\n"
        f"            if (got != want) {{\n"
        f"                if (mismatches < MAX_SHOWN)\n"
        f"                    std::cout << \"MISMATCH event \" << e << \" output {k} element \" << i << \": got \"\n"
        f"                              << got.to_string(16) << \", expected \" << want.to_string(16) << std::endl;\n"
        f"                mismatches++;\n"
        f"            }}\n"
        f"        }}" for k, (_, s, w) in enumerate(outputs))
    log = "\n".join(f"        nnet::print_result<{t}, {s}>(out{k}, fout);" for k, (t, s, _) in enumerate(outputs))
    return f"""// equihls testbench: each event of {LAYOUT.tb_input} through {top}(), every output compared bit
// for bit with {LAYOUT.tb_output_bits} (two's complement, hex). Returns 1 on any mismatch or unreadable data.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "firmware/{top}.h"
#include "firmware/nnet_utils/nnet_helpers.h"

namespace nnet {{
bool trace_enabled = false;
std::map<std::string, void *> *trace_outputs = NULL;
size_t trace_type_size = sizeof(double);
}} // namespace nnet

static const long MAX_SHOWN = 10;

template <class T> static bool read_row(std::ifstream &f, std::vector<T> &row, size_t n) {{
    std::string line;
    if (!std::getline(f, line)) return false;
    std::istringstream s(line);
    row.clear();
    T v;
    while (s >> v) row.push_back(v);
    return row.size() == n;
}}

int main() {{
    std::ifstream fin("{LAYOUT.tb_input}");
    std::ifstream fbits("{LAYOUT.tb_output_bits}");
    if (!fin.is_open() || !fbits.is_open()) {{
        std::cout << "ERROR: cannot open {LAYOUT.tb_input} or {LAYOUT.tb_output_bits} (run from the project directory)"
                  << std::endl;
        return 1;
    }}
#ifdef RTL_SIM
    std::ofstream fout("tb_data/rtl_cosim_results.log");
#else
    std::ofstream fout("tb_data/csim_results.log");
#endif
    std::vector<double> x;
    std::vector<std::string> bits;
    long e = 0, mismatches = 0;
    for (;; e++) {{
        bool have_x = read_row(fin, x, {n_in});
        bool have_bits = read_row(fbits, bits, {n_out});
        if (!have_x && !have_bits && fin.eof() && fbits.eof()) break;
        if (!have_x || !have_bits) {{
            std::cout << "ERROR: event " << e << ": expected {n_in} input and {n_out} output values per line"
                      << std::endl;
            return 1;
        }}
        long pos = 0;
{decl_in}
{read_in}
{decl_out}
        {top}({call});
        pos = 0;
{compare}
{log}
    }}
    std::cout << "equihls testbench: " << e << " events, " << mismatches << " mismatching output values"
              << std::endl;
    return (mismatches == 0 && e > 0) ? 0 : 1;
}}
"""


def write_testbench(project_dir: str, top: str, inputs: list, outputs: list, raws: list):
    """Write <top>_test.cpp (replacing hls4ml's) and tb_data/tb_output_bits.dat. inputs: (C type,
    size); outputs: (C type, size, W); raws: per output, the raw integers [events, size]."""
    write_expected_bits(os.path.join(project_dir, LAYOUT.tb_output_bits), raws, [w for _, _, w in outputs])
    with open(os.path.join(project_dir, f"{top}_test.cpp"), "w") as f:
        f.write(testbench_cpp(top, inputs, outputs))
