// Python bindings of the preprocessing core (`pinclip_sdk._core`).
//
// This layer only converts numpy arrays into ImageView spans, checks them strictly (dtype, ndim,
// channels, sizes, output buffer) and releases the GIL around the kernels; it never copies an input.
// The user-facing API, with typed errors naming the input, is `pinclip_sdk.preprocess`.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "engine.h"
#include "jpeg_region.h"
#include "yuv.h"

namespace py = pybind11;
using pinclip::Engine;
using pinclip::EngineConfig;
using pinclip::ImageView;
using pinclip::Item;
using pinclip::Layout;

#define STRINGIFY(x) #x
#define MACRO_STRINGIFY(x) STRINGIFY(x)

namespace {

// Largest side accepted; far beyond 8K, small enough that every index fits an int.
constexpr int64_t kMaxSide = 1 << 20;

Layout parse_layout(const std::string& s) {
  if (s == "gray") return Layout::Gray;
  if (s == "rgb") return Layout::RGB;
  if (s == "bgr") return Layout::BGR;
  if (s == "rgba") return Layout::RGBA;
  if (s == "bgra") return Layout::BGRA;
  if (s == "cmyk") return Layout::CMYK;
  throw py::value_error("unknown layout '" + s + "' (expected gray, rgb, bgr, rgba, bgra or cmyk)");
}

pinclip::ResizeMode parse_mode(const std::string& s) {
  if (s == "shortest") return pinclip::ResizeMode::Shortest;
  if (s == "longest") return pinclip::ResizeMode::Longest;
  if (s == "squash") return pinclip::ResizeMode::Squash;
  throw py::value_error("unknown resize_mode '" + s + "' (expected shortest, longest or squash)");
}

pinclip::Filter parse_filter(const std::string& s) {
  if (s == "bicubic") return pinclip::Filter::Bicubic;
  if (s == "bilinear") return pinclip::Filter::Bilinear;
  throw py::value_error("unknown interpolation '" + s + "' (expected bicubic or bilinear)");
}

pinclip::ViewSpec parse_view(const std::string& s, std::pair<int, int> tile_grid, int patch_size) {
  pinclip::ViewSpec v;
  if (s == "resize") v.view = pinclip::View::Resize;
  else if (s == "crop") v.view = pinclip::View::Crop;
  else if (s == "tiles") v.view = pinclip::View::Tiles;
  else if (s == "patches") v.view = pinclip::View::Patches;
  else throw py::value_error("unknown view '" + s + "' (expected resize, crop, tiles or patches)");
  if (tile_grid.first < 1 || tile_grid.first > 8 || tile_grid.second < 1 || tile_grid.second > 8)
    throw py::value_error("tile_grid must be two ints in 1..8");
  if (patch_size < 2 || patch_size > 128 || (patch_size & (patch_size - 1)) != 0)
    throw py::value_error("patch_size must be a power of two in 2..128");
  v.tile_rows = tile_grid.first;
  v.tile_cols = tile_grid.second;
  v.patch_size = patch_size;
  return v;
}

std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Checks `a` and describes it as an ImageView without copying. `what` names it in errors.
ImageView make_view(const py::array& a, const std::string& layout_name, const std::string& what) {
  if (!a.dtype().is(py::dtype::of<uint8_t>()))
    throw py::value_error(what + ": dtype must be uint8, got " + std::string(py::str(a.dtype())));
  ImageView v;
  v.layout = parse_layout(layout_name);
  const int nc = pinclip::layout_channels(v.layout);
  if (a.ndim() == 2) {
    if (nc != 1) throw py::value_error(what + ": a 2-D array is gray, but layout '" + layout_name + "' was given");
  } else if (a.ndim() == 3) {
    if (a.shape(2) != nc)
      throw py::value_error(what + ": layout '" + layout_name + "' needs " + std::to_string(nc) +
                            " channels, got shape " + shape_str(a));
  } else {
    throw py::value_error(what + ": expected an HxW or HxWxC array, got shape " + shape_str(a));
  }
  v.height = a.shape(0);
  v.width = a.shape(1);
  if (v.height < 1 || v.width < 1) throw py::value_error(what + ": image is empty, shape " + shape_str(a));
  if (v.height > kMaxSide || v.width > kMaxSide)
    throw py::value_error(what + ": image side above " + std::to_string(kMaxSide) + ", shape " + shape_str(a));
  v.data = static_cast<const uint8_t*>(a.data());
  v.row_stride = a.strides(0);
  v.pixel_stride = a.strides(1);
  v.channel_stride = a.ndim() == 3 ? a.strides(2) : 1;
  // frame[..., ::-1]: read the reversed view forwards as the other channel order (no copy).
  if (nc == 3 && v.channel_stride == -1) {
    v.data -= 2;
    v.channel_stride = 1;
    v.layout = v.layout == Layout::RGB ? Layout::BGR : Layout::RGB;
  }
  return v;
}

void fill_from(const py::object& fill, uint8_t out[3], const std::string& what) {
  auto t = fill.cast<std::tuple<int, int, int>>();
  const int vals[3] = {std::get<0>(t), std::get<1>(t), std::get<2>(t)};
  for (int c = 0; c < 3; ++c) {
    if (vals[c] < 0 || vals[c] > 255) throw py::value_error(what + ": fill colour must be 0..255");
    out[c] = static_cast<uint8_t>(vals[c]);
  }
}

void check_out(const py::array& out, std::size_t n, const pinclip::GeometrySpec& g, bool* half) {
  if (out.dtype().is(py::dtype::of<float>())) {
    *half = false;
  } else if (out.dtype().is(py::dtype("float16"))) {
    *half = true;
  } else {
    throw py::value_error("out: dtype must be float32 or float16, got " + std::string(py::str(out.dtype())));
  }
  const py::ssize_t want[4] = {static_cast<py::ssize_t>(n), 3, g.out_h, g.out_w};
  bool ok = out.ndim() == 4;
  for (int i = 0; ok && i < 4; ++i) ok = out.shape(i) == want[i];
  if (!ok)
    throw py::value_error("out: shape must be (" + std::to_string(n) + ", 3, " + std::to_string(g.out_h) + ", " +
                          std::to_string(g.out_w) + "), got " + shape_str(out));
  if (!(out.flags() & py::array::c_style)) throw py::value_error("out: must be C-contiguous");
  if (!out.writeable()) throw py::value_error("out: must be writeable");
}

py::tuple plan_tuple(const pinclip::Plan& p) {
  return py::make_tuple(p.resize_w, p.resize_h, p.left, p.top,
                        p.filter == pinclip::Filter::Bicubic ? "bicubic" : "bilinear",
                        p.fill == pinclip::FillKind::Zero ? "zero" : "color");
}

std::unique_ptr<Engine> make_engine(std::pair<int, int> size, const std::string& resize_mode,
                                    const std::string& interpolation, std::vector<double> mean,
                                    std::vector<double> std_dev, int num_threads, bool simd, bool exact,
                                    const std::string& view, std::pair<int, int> tile_grid, int patch_size) {
  if (size.first < 1 || size.second < 1 || size.first > 16384 || size.second > 16384)
    throw py::value_error("size must be in 1..16384, got (" + std::to_string(size.first) + ", " +
                          std::to_string(size.second) + ")");
  if (mean.size() != 3 || std_dev.size() != 3) throw py::value_error("mean and std need 3 values");
  if (num_threads < 1 || num_threads > 256) throw py::value_error("num_threads must be in 1..256");
  EngineConfig cfg;
  cfg.geometry.out_h = size.first;
  cfg.geometry.out_w = size.second;
  cfg.geometry.mode = parse_mode(resize_mode);
  cfg.geometry.filter = parse_filter(interpolation);
  for (int c = 0; c < 3; ++c) {
    if (!(std_dev[c] > 0)) throw py::value_error("std must be positive");
    cfg.mean[c] = mean[c];
    cfg.std_dev[c] = std_dev[c];
  }
  cfg.view = parse_view(view, tile_grid, patch_size);
  if (cfg.view.view == pinclip::View::Patches && (size.first % patch_size != 0 || size.second % patch_size != 0))
    throw py::value_error("patch_size must divide both sides of size (patches view)");
  cfg.num_threads = num_threads;
  cfg.allow_simd = simd;
  cfg.exact = exact;
  return std::make_unique<Engine>(cfg);
}

Item parse_item(const py::handle& entry, const std::string& what, std::vector<py::array>& keep) {
  auto t = entry.cast<py::tuple>();
  if (t.size() != 3 && t.size() != 4) throw py::value_error(what + ": expected (array, layout, fill[, seed])");
  if (!py::isinstance<py::array>(t[0])) throw py::value_error(what + ": not a numpy array");
  py::array a = py::reinterpret_borrow<py::array>(t[0]);
  Item item;
  item.view = make_view(a, t[1].cast<std::string>(), what);
  fill_from(t[2], item.fill_rgb, what);
  if (t.size() == 4) item.seed = t[3].cast<uint64_t>();
  keep.push_back(a);
  return item;
}

void engine_run(Engine& engine, const py::list& items, py::array out) {
  bool half = false;
  check_out(out, items.size() * engine.outputs_per_image(), engine.config().geometry, &half);
  std::vector<Item> parsed;
  std::vector<py::array> keep;  // holds the arrays alive while the GIL is released
  parsed.reserve(items.size());
  keep.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) parsed.push_back(parse_item(items[i], "image " + std::to_string(i), keep));
  void* data = out.mutable_data();
  py::gil_scoped_release release;
  engine.run(parsed, data, half);
}

py::array engine_resize_u8(Engine& engine, const py::array& image, const std::string& layout, const py::object& fill,
                           uint64_t seed) {
  std::vector<py::array> keep;
  const Item item = parse_item(py::make_tuple(image, layout, fill, seed), "image", keep);
  const pinclip::GeometrySpec& g = engine.config().geometry;
  const int k = engine.outputs_per_image();
  py::array_t<uint8_t> out({static_cast<py::ssize_t>(k), static_cast<py::ssize_t>(g.out_h),
                            static_cast<py::ssize_t>(g.out_w), py::ssize_t{3}});
  uint8_t* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    engine.run_u8(item, dst);
  }
  return k == 1 ? py::array(out[py::int_(0)]) : py::array(out);
}

py::list entropy_keys(const py::array& image, const std::string& layout, int patch) {
  std::vector<py::array> keep;
  const Item item = parse_item(py::make_tuple(image, layout, py::make_tuple(0, 0, 0)), "image", keep);
  if (patch < 2 || patch > 128 || (patch & (patch - 1)) != 0)
    throw py::value_error("patch must be a power of two in 2..128");
  std::vector<int64_t> keys;
  {
    py::gil_scoped_release release;
    keys = pinclip::patch_entropy_keys(item.view, patch);
  }
  return py::cast(keys);
}

py::array engine_lut(const Engine& engine, const std::string& dtype) {
  if (dtype == "float32") {
    py::array_t<float> a({3, 256});
    std::copy(&engine.tables().f32[0][0], &engine.tables().f32[0][0] + 768, a.mutable_data());
    return a;
  }
  if (dtype == "float16") {
    py::array a(py::dtype("float16"), {3, 256});
    std::copy(&engine.tables().f16[0][0], &engine.tables().f16[0][0] + 768, static_cast<uint16_t*>(a.mutable_data()));
    return a;
  }
  throw py::value_error("dtype must be float32 or float16");
}

py::array yuv420_to_rgb(const py::array& data, const std::string& fmt, const std::string& matrix, bool full_range) {
  if (!data.dtype().is(py::dtype::of<uint8_t>())) throw py::value_error("YUV data must be uint8");
  if (data.ndim() != 2) throw py::value_error("YUV data must be 2-D [H*3/2, W], got shape " + shape_str(data));
  const int64_t rows = data.shape(0);
  const int64_t width = data.shape(1);
  if (rows % 3 != 0 || width % 2 != 0 || rows == 0 || width == 0 || (rows / 3 * 2) % 2 != 0)
    throw py::value_error("YUV data shape " + shape_str(data) + " is not [H*3/2, W] with H and W even");
  if (data.strides(1) != 1) throw py::value_error("YUV rows must be contiguous (column stride 1)");
  if (width > kMaxSide || rows > kMaxSide) throw py::value_error("YUV frame too large: " + shape_str(data));
  const int height = static_cast<int>(rows / 3 * 2);
  pinclip::YuvFormat f;
  if (fmt == "nv12") f = pinclip::YuvFormat::NV12;
  else if (fmt == "i420") f = pinclip::YuvFormat::I420;
  else throw py::value_error("unknown YUV format '" + fmt + "' (expected nv12 or i420)");
  pinclip::YuvMatrix m;
  if (matrix == "bt601") m = pinclip::YuvMatrix::BT601;
  else if (matrix == "bt709") m = pinclip::YuvMatrix::BT709;
  else throw py::value_error("unknown YUV matrix '" + matrix + "' (expected bt601 or bt709)");
  py::array_t<uint8_t> out({static_cast<py::ssize_t>(height), static_cast<py::ssize_t>(width), py::ssize_t{3}});
  const uint8_t* src = static_cast<const uint8_t*>(data.data());
  const std::ptrdiff_t stride = data.strides(0);
  uint8_t* dst = out.mutable_data();
  {
    py::gil_scoped_release release;
    pinclip::yuv420_to_rgb(src, stride, static_cast<int>(width), height, f, m, full_range, dst);
  }
  return out;
}

// The boxes of a JPEG (bytes-like) as H x W x 3 uint8 arrays; ValueError says why not.
py::list jpeg_regions(const py::buffer& data, const std::vector<std::tuple<int, int, int, int>>& boxes) {
  const py::buffer_info info = data.request();
  if (info.ndim != 1 || info.itemsize != 1) throw py::value_error("JPEG data must be a 1-D bytes-like object");
  std::vector<pinclip::JpegBox> spans;
  for (const auto& [left, top, right, bottom] : boxes) spans.push_back({left, top, right, bottom});
  std::vector<std::vector<uint8_t>> pixels;
  int width = 0, height = 0;
  std::string error;
  {
    py::gil_scoped_release release;
    error = pinclip::decode_jpeg_regions(static_cast<const uint8_t*>(info.ptr), static_cast<size_t>(info.size), spans,
                                         pixels, width, height);
  }
  if (!error.empty()) throw py::value_error(error);
  py::list out;
  for (size_t i = 0; i < spans.size(); ++i) {
    const pinclip::JpegBox& b = spans[i];
    py::array_t<uint8_t> array({static_cast<py::ssize_t>(b.bottom - b.top), static_cast<py::ssize_t>(b.right - b.left),
                                py::ssize_t{3}});
    std::memcpy(array.mutable_data(), pixels[i].data(), pixels[i].size());
    out.append(array);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "PiN-CLIP preprocessing core: open_clip's eval transform, bit-exact, in C++";
  m.attr("__version__") = MACRO_STRINGIFY(VERSION_INFO);

  m.def("simd_kernels", [](bool allow) { return std::string(pinclip::select_kernels(allow).name); },
        py::arg("allow_simd") = true, "Name of the resample kernels this CPU gets ('avx512vnni', 'avx2', 'neon' or 'scalar'; "
        "the PINCLIP_MAX_SIMD environment variable caps it).");
  m.def(
      "float_to_half", [](float v) { return pinclip::float_to_half(v); }, py::arg("value"),
      "IEEE binary16 bits of a float32, rounded to nearest even (the core's float16 output).");

  m.def("yuv420_to_rgb", &yuv420_to_rgb, py::arg("data"), py::arg("fmt"), py::arg("matrix"),
        py::arg("full_range"), "NV12 / I420 [H*3/2, W] uint8 to RGB [H, W, 3] (OpenCV's fixed-point scheme).");

  py::class_<Engine>(m, "Engine", "A configured preprocessor with its own thread pool.")
      .def(py::init(&make_engine), py::arg("size"), py::arg("resize_mode"), py::arg("interpolation"),
           py::arg("mean"), py::arg("std"), py::arg("num_threads") = 1, py::arg("simd") = true,
           py::arg("exact") = true, py::arg("view") = "resize", py::arg("tile_grid") = std::make_pair(2, 2),
           py::arg("patch_size") = 32)
      .def_property_readonly("num_threads", &Engine::num_threads)
      .def_property_readonly("outputs_per_image", &Engine::outputs_per_image,
                             "Model inputs one image becomes (the tiles of the tiles view, else 1).")
      .def_property_readonly("kernels", [](const Engine& e) { return std::string(e.kernels().name); })
      .def(
          "plan",
          [](const Engine& e, int64_t width, int64_t height, int tile) {
            if (e.config().view.view == pinclip::View::Patches) throw py::value_error("the patches view has no plan");
            if (tile < 0 || tile >= e.outputs_per_image()) throw py::value_error("tile index out of range");
            if (width < 1 || height < 1) throw py::value_error("image has zero width or height");
            return plan_tuple(e.plan(width, height, tile));
          },
          py::arg("width"), py::arg("height"), py::arg("tile") = 0,
          "(resize_w, resize_h, left, top, filter, fill) of the view's geometry for a width x height image.")
      .def("lut", &engine_lut, py::arg("dtype") = "float32", "The [3, 256] normalisation table.")
      .def("run", &engine_run, py::arg("items"), py::arg("out"),
           "Preprocess [(array, layout, fill_rgb[, seed]), ...] into out [N * k, 3, H, W] (float32 or float16), "
           "GIL released.")
      .def("resize_u8", &engine_resize_u8, py::arg("image"), py::arg("layout"), py::arg("fill") = py::make_tuple(0, 0, 0),
           py::arg("seed") = 0, "The uint8 RGB [H, W, 3] image before normalisation ([k, H, W, 3] for tiles).");

  m.attr("has_jpeg_regions") = pinclip::jpeg_regions_supported();
  m.def("decode_jpeg_regions", &jpeg_regions, py::arg("data"), py::arg("boxes"),
        "The (left, top, right, bottom) boxes of an 8-bit JPEG as [H, W, 3] uint8 RGB, each bit-identical to "
        "the box of a full decode; only the rows down to the last box are decoded (GIL released).");
  m.def("patch_entropy_keys", &entropy_keys, py::arg("image"), py::arg("layout"), py::arg("patch"),
        "round(1e9 * spectral entropy) of each full patch, row-major (the patches view's score).");
  m.def("mosaic_cells", &pinclip::mosaic_cells, py::arg("keys"), py::arg("cells"), py::arg("seed"),
        "Source patch of each mosaic cell (-1 = fill) for these entropy keys.");
}
