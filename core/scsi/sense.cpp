#include "core/scsi/sense.h"

namespace stmf::scsi {

namespace {
void put_be64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) { p[i] = uint8_t(v); v >>= 8; }
}
// SPC-4 4.5.2.4.2 field pointer sense-key specific bytes (3 bytes, SKSV set).
void put_field_pointer(uint8_t* p, const FieldPointer& f) {
  p[0] = 0x80 | (f.c_d ? 0x40 : 0) | (f.bit ? (0x08 | (*f.bit & 7)) : 0);
  p[1] = uint8_t(f.byte >> 8);
  p[2] = uint8_t(f.byte);
}
// SPC-4 4.5.2.4.4 progress indication sense-key specific bytes (3 bytes, SKSV set).
void put_progress(uint8_t* p, uint16_t progress) {
  p[0] = 0x80;
  p[1] = uint8_t(progress >> 8);
  p[2] = uint8_t(progress);
}
}  // namespace

std::vector<uint8_t> build_sense(const SenseCode& s, bool descriptor_format) {
  if (!descriptor_format) {
    std::vector<uint8_t> b(18, 0);
    b[0] = 0x70;  // current error, fixed format
    b[2] = uint8_t(s.key) & 0x0f;
    if (s.information) {
      b[0] |= 0x80;  // VALID
      uint64_t v = *s.information;
      b[3] = uint8_t(v >> 24); b[4] = uint8_t(v >> 16); b[5] = uint8_t(v >> 8); b[6] = uint8_t(v);
    }
    b[7] = 10;  // additional sense length
    b[12] = s.asc;
    b[13] = s.ascq;
    if (s.field) put_field_pointer(&b[15], *s.field);
    else if (s.progress) put_progress(&b[15], *s.progress);
    return b;
  }
  std::vector<uint8_t> b(8, 0);
  b[0] = 0x72;  // current error, descriptor format
  b[1] = uint8_t(s.key) & 0x0f;
  b[2] = s.asc;
  b[3] = s.ascq;
  if (s.information) {
    // Information descriptor (type 00h), SPC-4 4.5.2.2.
    uint8_t d[12] = {0x00, 0x0a, 0x80, 0};
    put_be64(&d[4], *s.information);
    b.insert(b.end(), d, d + 12);
  }
  if (s.field) {
    // Sense key specific descriptor (type 02h), SPC-4 4.5.2.4.
    uint8_t d[8] = {0x02, 0x06, 0, 0};
    put_field_pointer(&d[4], *s.field);
    b.insert(b.end(), d, d + 8);
  } else if (s.progress) {
    uint8_t d[8] = {0x02, 0x06, 0, 0};
    put_progress(&d[4], *s.progress);
    b.insert(b.end(), d, d + 8);
  }
  b[7] = uint8_t(b.size() - 8);
  return b;
}

}  // namespace stmf::scsi
