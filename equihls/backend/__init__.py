"""Stage 5, out: the hls4ml extension (`extension`), the per-node C++ rendering (`emit`), the C simulation (`csim`), RTL
rendering (`rtl`) and the atomic project directory (`staging`)."""
