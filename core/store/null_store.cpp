#include <atomic>
// Null store: holds nothing. Reads return zeroes (the buffer is cleared), writes and unmaps are
// dropped, flush succeeds; everything completes inline on the caller's thread. Not thin: there
// is nothing to deallocate, and every range reports as mapped.
#include <cerrno>
#include <cstring>

#include "core/store/backing_store.h"

namespace stmf::store {

namespace {

class NullStore final : public BackingStore {
 public:
  explicit NullStore(uint64_t size) : size_(size) {}

  uint64_t size() const override { return size_; }
  std::error_code grow(uint64_t n) override {
    if (n < size_) return std::make_error_code(std::errc::invalid_argument);
    size_ = n;
    return {};
  }
  bool thin() const override { return false; }
  std::string describe() const override { return "null"; }

  void read(uint64_t offset, std::span<uint8_t> buf, Completion done) override {
    if (!in_range(offset, buf.size())) return done(einval());
    if (!buf.empty()) std::memset(buf.data(), 0, buf.size());
    done({});
  }
  void write(uint64_t offset, std::span<const uint8_t> buf, bool, Completion done) override {
    done(in_range(offset, buf.size()) ? std::error_code() : einval());
  }
  void flush(Completion done) override { done({}); }
  void unmap(uint64_t offset, uint64_t length, Completion done) override {
    done(in_range(offset, length) ? std::error_code() : einval());
  }
  std::error_code extent(uint64_t offset, uint64_t max_length, Extent& out) override {
    if (offset >= size_ || max_length == 0) return einval();
    out = Extent{true, std::min(max_length, size_ - offset)};
    return {};
  }

 private:
  static std::error_code einval() { return {EINVAL, std::system_category()}; }
  bool in_range(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }
  std::atomic<uint64_t> size_;
};

}  // namespace

std::unique_ptr<BackingStore> make_null_store(uint64_t size) { return std::make_unique<NullStore>(size); }

}  // namespace stmf::store
