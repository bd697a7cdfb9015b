// JPEG region decode: see jpeg_region.h. libjpeg reports errors through error_exit, which must not
// return: it longjmps back into decode_boxes, whose frame holds no object with a destructor (the
// output buffers belong to the caller; the row buffer is libjpeg's own pool memory).
#include "jpeg_region.h"

#include <algorithm>
#include <cstring>

#ifdef PINCLIP_HAVE_LIBJPEG
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#endif

namespace pinclip {

#if defined(PINCLIP_HAVE_LIBJPEG) && defined(LIBJPEG_TURBO_VERSION)

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  int warnings;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level < 0 && err->warnings++ == 0) (*cinfo->err->format_message)(cinfo, err->message);
}

// The end-of-image marker after the scans. A marker FF D9 cannot occur inside entropy-coded data
// (FF bytes there are stuffed with 00 or are restart markers), so its absence means truncation
// that the decode below, which stops after the last box, would not see.
bool has_end_marker(const uint8_t* from, size_t size) {
  const uint8_t* end = from + size;
  for (const uint8_t* p = from; p + 1 < end;) {
    const void* hit = std::memchr(p, 0xFF, static_cast<size_t>(end - p - 1));
    if (hit == nullptr) return false;
    p = static_cast<const uint8_t*>(hit);
    if (p[1] == 0xD9) return true;
    ++p;
  }
  return false;
}

// Rows [start, stop) to decode: each box's rows plus `margin` rows of context above it (so chroma
// upsampling sees what it sees in a full decode), merged, in order.
struct RowSpan {
  int start, stop;
};

std::vector<RowSpan> row_spans(const std::vector<JpegBox>& boxes, int margin) {
  std::vector<RowSpan> spans;
  for (const JpegBox& b : boxes) spans.push_back({std::max(0, b.top - margin), b.bottom});
  std::sort(spans.begin(), spans.end(), [](const RowSpan& a, const RowSpan& b) { return a.start < b.start; });
  std::vector<RowSpan> merged;
  for (const RowSpan& s : spans) {
    if (!merged.empty() && s.start <= merged.back().stop) {
      merged.back().stop = std::max(merged.back().stop, s.stop);
    } else {
      merged.push_back(s);
    }
  }
  return merged;
}

// Returns false with err->message set on a libjpeg error; warnings are counted in err->warnings.
bool decode_boxes(jpeg_decompress_struct* d, ErrorManager* err, const uint8_t* data, size_t size,
                  const std::vector<JpegBox>& boxes, const std::vector<RowSpan>& spans, int margin,
                  std::vector<std::vector<uint8_t>>& out, int& width, int& height, bool& truncated) {
  if (setjmp(err->jump)) return false;
  jpeg_mem_src(d, data, static_cast<unsigned long>(size));
  jpeg_read_header(d, TRUE);
  width = static_cast<int>(d->image_width);
  height = static_cast<int>(d->image_height);
  if (d->num_components != 1 && d->num_components != 3) {
    std::snprintf(err->message, sizeof(err->message), "%d colour components", d->num_components);
    return false;
  }
  for (const JpegBox& b : boxes) {
    if (b.left < 0 || b.top < 0 || b.right > width || b.bottom > height || b.left >= b.right || b.top >= b.bottom) {
      std::snprintf(err->message, sizeof(err->message), "box (%d, %d, %d, %d) outside the %dx%d image", b.left, b.top,
                    b.right, b.bottom, width, height);
      return false;
    }
  }
  truncated = !has_end_marker(d->src->next_input_byte, d->src->bytes_in_buffer);
  if (truncated) return true;
  d->out_color_space = JCS_RGB;  // gray is replicated, as Pillow's convert("RGB") does
  d->dct_method = JDCT_ISLOW;    // libjpeg's (and Pillow's) default, exact on every CPU
  jpeg_start_decompress(d);
  // the columns every box needs plus context; libjpeg widens the window to its iMCU grid
  int left = width, right = 0;
  for (const JpegBox& b : boxes) {
    left = std::min(left, b.left);
    right = std::max(right, b.right);
  }
  JDIMENSION x0 = static_cast<JDIMENSION>(std::max(0, left - margin));
  JDIMENSION span = static_cast<JDIMENSION>(std::min(width, right + margin)) - x0;
  if (span < d->output_width) jpeg_crop_scanline(d, &x0, &span);
  JSAMPARRAY row = (*d->mem->alloc_sarray)(reinterpret_cast<j_common_ptr>(d), JPOOL_IMAGE, d->output_width * 3, 1);
  for (const RowSpan& s : spans) {
    if (d->output_scanline < static_cast<JDIMENSION>(s.start))
      jpeg_skip_scanlines(d, static_cast<JDIMENSION>(s.start) - d->output_scanline);
    while (d->output_scanline < static_cast<JDIMENSION>(s.stop)) {
      const int y = static_cast<int>(d->output_scanline);
      if (jpeg_read_scanlines(d, row, 1) != 1) {
        std::snprintf(err->message, sizeof(err->message), "no scanline %d", y);
        return false;
      }
      for (size_t i = 0; i < boxes.size(); ++i) {
        const JpegBox& b = boxes[i];
        if (y < b.top || y >= b.bottom) continue;
        const size_t w = static_cast<size_t>(b.right - b.left);
        std::memcpy(out[i].data() + static_cast<size_t>(y - b.top) * w * 3, row[0] + static_cast<size_t>(b.left - static_cast<int>(x0)) * 3, w * 3);
      }
    }
  }
  jpeg_abort_decompress(d);  // the rows below the last box are never decoded
  return true;
}

}  // namespace

bool jpeg_regions_supported() { return true; }

std::string decode_jpeg_regions(const uint8_t* data, size_t size, const std::vector<JpegBox>& boxes,
                                std::vector<std::vector<uint8_t>>& out, int& width, int& height) {
  // context beyond each box: two iMCUs of the coarsest (2x2) subsampling
  constexpr int kMargin = 32;
  out.assign(boxes.size(), {});
  for (size_t i = 0; i < boxes.size(); ++i) {
    const JpegBox& b = boxes[i];
    if (b.right > b.left && b.bottom > b.top && b.right - b.left <= 65535 && b.bottom - b.top <= 65535)
      out[i].resize(static_cast<size_t>(b.right - b.left) * static_cast<size_t>(b.bottom - b.top) * 3);
  }
  const std::vector<RowSpan> spans = row_spans(boxes, kMargin);
  jpeg_decompress_struct d;
  ErrorManager err;
  err.message[0] = '\0';
  err.warnings = 0;
  d.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  jpeg_create_decompress(&d);
  bool truncated = false;
  const bool ok = decode_boxes(&d, &err, data, size, boxes, spans, kMargin, out, width, height, truncated);
  jpeg_destroy_decompress(&d);
  if (!ok) return err.message[0] ? std::string(err.message) : std::string("libjpeg error");
  if (truncated) return "truncated JPEG data: no end-of-image marker after the scans";
  if (err.warnings) return std::string("corrupt JPEG data: ") + err.message;
  return {};
}

#else

bool jpeg_regions_supported() { return false; }

std::string decode_jpeg_regions(const uint8_t*, size_t, const std::vector<JpegBox>&,
                                std::vector<std::vector<uint8_t>>& out, int& width, int& height) {
  out.clear();
  width = height = 0;
  return "the core was built without libjpeg-turbo";
}

#endif

}  // namespace pinclip
