// RAM store: memory allocated lazily in 1 MiB chunks, so a large RAM LU costs nothing until it
// is written. Everything completes inline, on the caller's thread.
//
// Concurrency: the chunk table is a fixed array of atomic pointers. Reads and writes hold a
// shared lock (so they run in parallel) and install missing chunks with compare-exchange;
// unmap holds the exclusive lock only while it frees whole chunks, so no reader or writer can
// be inside a chunk being freed. Overlapping concurrent writes give an unspecified mix of the
// data, as SCSI allows; non-overlapping I/O never contends beyond the shared lock.
//
// Ownership: the store owns every chunk (calloc'd, freed on unmap or destruction).
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/store/backing_store.h"

namespace stmf::store {

namespace {

constexpr uint64_t kChunk = uint64_t(1) << 20;

class RamStore final : public BackingStore {
 public:
  explicit RamStore(uint64_t size) : size_(size), chunks_((size + kChunk - 1) / kChunk) {}

  ~RamStore() override {
    for (auto& c : chunks_) std::free(c.load());
  }

  uint64_t size() const override { return size_; }
  bool thin() const override { return true; }
  std::string describe() const override { return "ram"; }

  void read(uint64_t offset, std::span<uint8_t> buf, Completion done) override {
    if (!in_range(offset, buf.size())) return done(std::error_code(EINVAL, std::system_category()));
    std::shared_lock lk(mu_);
    for_each_piece(offset, buf.size(), [&](uint64_t index, uint64_t in_chunk, uint64_t len, uint64_t pos) {
      uint8_t* c = chunks_[index].load(std::memory_order_acquire);
      if (c)
        std::memcpy(buf.data() + pos, c + in_chunk, len);
      else
        std::memset(buf.data() + pos, 0, len);
    });
    lk.unlock();
    done({});
  }

  void write(uint64_t offset, std::span<const uint8_t> buf, bool, Completion done) override {
    if (!in_range(offset, buf.size())) return done(std::error_code(EINVAL, std::system_category()));
    std::shared_lock lk(mu_);
    bool nomem = false;
    for_each_piece(offset, buf.size(), [&](uint64_t index, uint64_t in_chunk, uint64_t len, uint64_t pos) {
      uint8_t* c = get_or_create(index);
      if (!c) {
        nomem = true;
        return;
      }
      std::memcpy(c + in_chunk, buf.data() + pos, len);
    });
    lk.unlock();
    done(nomem ? std::error_code(ENOMEM, std::system_category()) : std::error_code());
  }

  void flush(Completion done) override { done({}); }

  // Frees the chunks the range covers entirely; zeroes the partial ends of allocated chunks.
  void unmap(uint64_t offset, uint64_t length, Completion done) override {
    if (!in_range(offset, length)) return done(std::error_code(EINVAL, std::system_category()));
    std::vector<uint64_t> whole;
    {
      std::shared_lock lk(mu_);
      for_each_piece(offset, length, [&](uint64_t index, uint64_t in_chunk, uint64_t len, uint64_t) {
        if (in_chunk == 0 && len == chunk_len(index)) {
          whole.push_back(index);
        } else if (uint8_t* c = chunks_[index].load(std::memory_order_acquire)) {
          std::memset(c + in_chunk, 0, len);
        }
      });
    }
    if (!whole.empty()) {
      std::unique_lock lk(mu_);
      for (uint64_t index : whole) std::free(chunks_[index].exchange(nullptr, std::memory_order_acq_rel));
    }
    done({});
  }

  // Allocated chunks are mapped; missing ones are deallocated.
  std::error_code extent(uint64_t offset, uint64_t max_length, Extent& out) override {
    if (offset >= size_ || max_length == 0) return std::error_code(EINVAL, std::system_category());
    uint64_t end = offset + std::min(max_length, size_ - offset);
    uint64_t index = offset / kChunk;
    bool mapped = chunks_[index].load(std::memory_order_acquire) != nullptr;
    uint64_t pos = (index + 1) * kChunk;
    while (pos < end && (chunks_[pos / kChunk].load(std::memory_order_acquire) != nullptr) == mapped) pos += kChunk;
    out = Extent{mapped, std::min(pos, end) - offset};
    return {};
  }

 private:
  bool in_range(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }
  uint64_t chunk_len(uint64_t index) const { return std::min(kChunk, size_ - index * kChunk); }

  // Calls f(chunk index, offset in chunk, length, offset in the caller's range) per chunk.
  template <typename F>
  void for_each_piece(uint64_t offset, uint64_t length, F&& f) {
    uint64_t pos = 0;
    while (pos < length) {
      uint64_t at = offset + pos;
      uint64_t in_chunk = at % kChunk;
      uint64_t len = std::min(kChunk - in_chunk, length - pos);
      f(at / kChunk, in_chunk, len, pos);
      pos += len;
    }
  }

  // Caller holds mu_ shared. Returns nullptr when out of memory.
  uint8_t* get_or_create(uint64_t index) {
    uint8_t* c = chunks_[index].load(std::memory_order_acquire);
    if (c) return c;
    auto* fresh = static_cast<uint8_t*>(std::calloc(1, chunk_len(index)));
    if (!fresh) return nullptr;
    if (chunks_[index].compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) return fresh;
    std::free(fresh);  // another writer installed one first
    return c;
  }

  const uint64_t size_;
  std::shared_mutex mu_;  // shared: read/write/partial unmap; exclusive: freeing chunks
  std::vector<std::atomic<uint8_t*>> chunks_;
};

}  // namespace

std::unique_ptr<BackingStore> make_ram_store(uint64_t size) { return std::make_unique<RamStore>(size); }

}  // namespace stmf::store
