// Placeholder module so the skeleton builds; the preprocessing core replaces it.
#include <pybind11/pybind11.h>
#define STRINGIFY(x) #x
#define MACRO_STRINGIFY(x) STRINGIFY(x)
PYBIND11_MODULE(_core, m) {
  m.doc() = "PiN-CLIP preprocessing core";
  m.attr("__version__") = MACRO_STRINGIFY(VERSION_INFO);
}
