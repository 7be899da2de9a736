// Arbitrary bytes through the proxy channel codec: stream framing, decode, and re-encode.
// Whatever decodes must re-encode to exactly the bytes it came from (the decoder accepts only
// canonical frames), and the re-encoded frame must decode and re-encode to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "proxy/codec.h"

using namespace stmf::proxy;

namespace {

void check_frame(const uint8_t* p, size_t n) {
  Message m;
  std::string why;
  if (decode(p, n, m, why) != DecodeError::none) {
    if (why.empty()) std::abort();  // every error names its reason
    return;
  }
  (void)to_string(m.type());
  const std::vector<uint8_t> again = encode(m);
  if (again.size() != n || !std::equal(again.begin(), again.end(), p)) std::abort();
  Message m2;
  if (decode(again.data(), again.size(), m2, why) != DecodeError::none) std::abort();
  if (m2.type() != m.type() || m2.msg_id != m.msg_id) std::abort();
  if (encode(m2) != again) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The input as one frame.
  check_frame(data, size);

  // The input as a stream, fed in pieces whose sizes come from the first byte.
  const size_t step = size ? 1 + data[0] % 17 : 1;
  FrameReader reader;
  std::vector<uint8_t> frame;
  std::string why;
  size_t framed = 0;
  bool failed = false;
  for (size_t at = 0; at < size && !failed; at += step) {
    reader.feed(data + at, std::min(step, size - at));
    for (;;) {
      const auto r = reader.next(frame, why);
      if (r == FrameReader::Next::error) {
        failed = true;
        break;
      }
      if (r == FrameReader::Next::need_more) break;
      framed += frame.size();
      check_frame(frame.data(), frame.size());
    }
  }
  // Nothing is lost or invented: what was framed plus what waits is what was fed.
  if (!failed && framed + reader.buffered() != size) std::abort();
  return 0;
}
