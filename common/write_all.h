// A completion condition for asio::async_write that hands the socket everything at once.
//
// Asio's default (transfer_all) caps every write_some at default_max_transfer_size, 64 KiB: a
// 128 KiB Data-In, or a proxy frame carrying 128 KiB, took two sendmsg calls and so did every
// gathered batch over 64 KiB (docs/benchmark.md "Writes over 64 KiB"). With this condition a
// batch goes to the kernel in one sendmsg (up to 64 buffers, Asio's iovec bound per call); a
// short write is continued as before. Header-only, no Boost include: any error_code-like value
// that converts to bool works.
#pragma once
#include <cstddef>

namespace stmf {

struct WriteAllAtOnce {
  // Up to this much per write_some; the rest of a larger batch in the next call.
  static constexpr std::size_t kMaxPerWrite = std::size_t(1) << 30;
  template <class ErrorCode>
  std::size_t operator()(const ErrorCode& ec, std::size_t /*written so far*/) const {
    return ec ? 0 : kMaxPerWrite;
  }
};

}  // namespace stmf
