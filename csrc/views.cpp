#include "views.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <stdexcept>

namespace pinclip {

int outputs_per_image(const ViewSpec& view) {
  return view.view == View::Tiles ? view.tile_rows * view.tile_cols : 1;
}

int64_t tile_offset(int64_t size, int64_t crop, int index, int count) {
  if (crop > size) return -((crop - size) / 2);
  if (count == 1) return static_cast<int64_t>(std::nearbyint(static_cast<double>(size - crop) / 2.0));
  return index * (size - crop) / (count - 1);
}

Plan native_crop_plan(int64_t width, int64_t height, int out_w, int out_h, int rows, int cols, int index) {
  if (width < 1 || height < 1) throw std::invalid_argument("image has zero width or height");
  Plan plan;
  plan.resize_w = width;
  plan.resize_h = height;
  plan.out_w = out_w;
  plan.out_h = out_h;
  plan.fill = FillKind::Color;
  plan.left = tile_offset(width, out_w, index % cols, cols);
  plan.top = tile_offset(height, out_h, index / cols, rows);
  return plan;
}

namespace {

// In-place radix-2 FFT of n = 2^k complex values (forward, unnormalised, as numpy's fft).
class Fft {
 public:
  explicit Fft(int n) : n_(n), twiddle_(n / 2), bitrev_(n) {
    const double tau = 6.283185307179586;
    for (int i = 0; i < n / 2; ++i) twiddle_[i] = {std::cos(tau * i / n), -std::sin(tau * i / n)};
    int bits = 0;
    while ((1 << bits) < n) ++bits;
    for (int i = 0; i < n; ++i) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((i >> b) & 1) << (bits - 1 - b);
      bitrev_[i] = r;
    }
  }

  // Transforms x[0], x[stride], ... x[(n - 1) * stride].
  void run(std::complex<double>* x, int stride) const {
    for (int i = 0; i < n_; ++i) {
      const int j = bitrev_[i];
      if (i < j) std::swap(x[i * stride], x[j * stride]);
    }
    for (int len = 2; len <= n_; len <<= 1) {
      const int half = len / 2;
      const int step = n_ / len;
      for (int start = 0; start < n_; start += len) {
        for (int k = 0; k < half; ++k) {
          const std::complex<double> w = twiddle_[k * step];
          std::complex<double>& a = x[(start + k) * stride];
          std::complex<double>& b = x[(start + k + half) * stride];
          const std::complex<double> t(w.real() * b.real() - w.imag() * b.imag(),
                                       w.real() * b.imag() + w.imag() * b.real());
          b = a - t;
          a = a + t;
        }
      }
    }
  }

 private:
  int n_;
  std::vector<std::complex<double>> twiddle_;
  std::vector<int> bitrev_;
};

// The power spectrum of a real patch is symmetric, P(u, v) = P(-u, -v): two real rows go through
// one complex FFT (z = a + ib), only the columns v = 0 .. p/2 are transformed, and the sums weigh
// the columns 1 .. p/2 - 1 twice. About half the work of the plain 2-D FFT; the same entropy up to
// float rounding, far below the 1e-9 of the keys.
double spectral_entropy(const double* gray, std::ptrdiff_t stride, int p, const Fft& fft,
                        std::vector<std::complex<double>>& buf) {
  double peak = -1.0;
  for (int y = 0; y < p; ++y)
    for (int x = 0; x < p; ++x) peak = std::max(peak, gray[y * stride + x]);
  const bool scale = peak > 1.0;  // the group divides by 255 only when the maximum is above 1
  const int half = p / 2;
  const int cols = half + 1;
  buf.resize(static_cast<std::size_t>(p) * cols + p);
  std::complex<double>* spectrum = buf.data();  // [p rows][cols]
  std::complex<double>* z = buf.data() + static_cast<std::size_t>(p) * cols;
  auto value = [&](int y, int x) { return scale ? gray[y * stride + x] / 255.0 : gray[y * stride + x]; };
  for (int y = 0; y < p; y += 2) {
    for (int x = 0; x < p; ++x) z[x] = {value(y, x), value(y + 1, x)};
    fft.run(z, 1);
    for (int k = 0; k < cols; ++k) {
      const std::complex<double> a = z[k];
      const std::complex<double> b = std::conj(z[(p - k) % p]);
      const double sr = a.real() + b.real(), si = a.imag() + b.imag();
      const double dr = a.real() - b.real(), di = a.imag() - b.imag();
      spectrum[y * cols + k] = {0.5 * sr, 0.5 * si};        // row y: (Z[k] + conj Z[-k]) / 2
      spectrum[(y + 1) * cols + k] = {0.5 * di, -0.5 * dr};  // row y + 1: (Z[k] - conj Z[-k]) / 2i
    }
  }
  for (int k = 0; k < cols; ++k) fft.run(spectrum + k, cols);
  auto weight = [&](int k) { return (k == 0 || k == half) ? 1.0 : 2.0; };
  double total = 0.0;
  for (int u = 0; u < p; ++u)
    for (int k = 0; k < cols; ++k) {
      const std::complex<double> c = spectrum[u * cols + k];
      total += weight(k) * (c.real() * c.real() + c.imag() * c.imag());
    }
  const double denom = total + 1e-12;
  double entropy = 0.0;
  for (int u = 0; u < p; ++u)
    for (int k = 0; k < cols; ++k) {
      const std::complex<double> c = spectrum[u * cols + k];
      const double q = (c.real() * c.real() + c.imag() * c.imag()) / denom;
      entropy -= weight(k) * (q * std::log2(q + 1e-12));
    }
  return entropy;
}

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace

std::vector<int64_t> patch_entropy_keys(const ImageView& image, int patch) {
  if (patch < 2 || (patch & (patch - 1)) != 0) throw std::invalid_argument("patch size must be a power of two >= 2");
  const int64_t rows = image.height / patch;
  const int64_t cols = image.width / patch;
  std::vector<int64_t> keys;
  keys.reserve(static_cast<std::size_t>(rows * cols));
  if (rows == 0 || cols == 0) return keys;
  const int64_t used_w = cols * patch;
  const Fft fft(patch);
  std::vector<uint8_t> rgb(static_cast<std::size_t>(used_w) * 3);
  std::vector<double> band(static_cast<std::size_t>(used_w) * patch);
  std::vector<std::complex<double>> buf;
  for (int64_t r = 0; r < rows; ++r) {
    for (int y = 0; y < patch; ++y) {
      read_rgb_row(image, r * patch + y, 0, used_w, rgb.data());
      double* g = band.data() + static_cast<std::size_t>(y) * used_w;
      for (int64_t x = 0; x < used_w; ++x) {
        const uint8_t* px = &rgb[3 * x];
        g[x] = px[0] * 0.299 + px[1] * 0.587 + px[2] * 0.114;
      }
    }
    for (int64_t c = 0; c < cols; ++c) {
      const double h = spectral_entropy(band.data() + c * patch, used_w, patch, fft, buf);
      keys.push_back(static_cast<int64_t>(std::nearbyint(h * 1e9)));
    }
  }
  return keys;
}

std::vector<int> mosaic_cells(const std::vector<int64_t>& keys, int cells, uint64_t seed) {
  const int n = static_cast<int>(keys.size());
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] < keys[b]; });
  const int low = cells / 2;
  const int high = cells - low;
  std::vector<int> chosen(order.begin(), order.begin() + std::min(low, n));
  chosen.insert(chosen.end(), order.end() - std::min(high, n), order.end());
  SplitMix64 rng{seed};
  for (int i = static_cast<int>(chosen.size()) - 1; i > 0; --i) {
    const int j = static_cast<int>(rng.next() % static_cast<uint64_t>(i + 1));
    std::swap(chosen[i], chosen[j]);
  }
  chosen.resize(cells, -1);
  return chosen;
}

void patch_mosaic_rgb(const ImageView& image, int out_w, int out_h, int patch, uint64_t seed,
                      const uint8_t fill_rgb[3], uint8_t* out) {
  const int grid_cols = out_w / patch;
  const int grid_rows = out_h / patch;
  const std::vector<int64_t> keys = patch_entropy_keys(image, patch);
  const std::vector<int> cells = mosaic_cells(keys, grid_rows * grid_cols, seed);
  const int64_t src_cols = image.width / patch;
  const std::size_t row_bytes = static_cast<std::size_t>(out_w) * 3;
  for (int cell = 0; cell < grid_rows * grid_cols; ++cell) {
    const int oy = (cell / grid_cols) * patch;
    const int ox = (cell % grid_cols) * patch;
    const int source = cells[cell];
    for (int y = 0; y < patch; ++y) {
      uint8_t* dst = out + static_cast<std::size_t>(oy + y) * row_bytes + static_cast<std::size_t>(ox) * 3;
      if (source < 0) {
        for (int x = 0; x < patch; ++x) std::copy(fill_rgb, fill_rgb + 3, dst + 3 * x);
      } else {
        const int64_t sy = (source / src_cols) * patch + y;
        const int64_t sx = (source % src_cols) * patch;
        read_rgb_row(image, sy, sx, sx + patch, dst);
      }
    }
  }
  // cells outside the grid when a side is not a multiple of the patch (the spec forbids it)
  for (int y = grid_rows * patch; y < out_h; ++y)
    for (int x = 0; x < out_w; ++x) std::copy(fill_rgb, fill_rgb + 3, out + y * row_bytes + 3 * x);
  for (int y = 0; y < grid_rows * patch; ++y)
    for (int x = grid_cols * patch; x < out_w; ++x) std::copy(fill_rgb, fill_rgb + 3, out + y * row_bytes + 3 * x);
}

}  // namespace pinclip
