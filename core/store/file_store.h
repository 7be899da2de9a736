// File store internals, visible to the store's unit tests and to store_bench. Everything else
// uses make_file_store() from backing_store.h.
//
// Ownership: FileStore owns the backing file descriptor and its I/O engine. The engine owns each
// request from submission until its Completion has returned. The destructor waits for every
// submitted request (queued or in flight) to complete and for the engine's threads to stop;
// no call may be started concurrently with, or after, destruction.
// With StoreOptions::direct (O_DIRECT) the caller aligns buffers, offsets and lengths to the
// device's logical block size; misaligned requests complete with EINVAL from the kernel.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "core/store/backing_store.h"

namespace stmf::store {

// Counters of one file store's engine (monotonic, except in_flight).
struct FileStoreStats {
  uint64_t submitted = 0;      // requests accepted by the engine
  uint64_t completed = 0;      // completions invoked (counted just before each runs)
  uint64_t queued = 0;         // requests that waited because queue_depth were in flight
  uint64_t resubmitted = 0;    // short transfers and EINTR/EAGAIN retried
  unsigned max_in_flight = 0;  // high-water mark of requests handed to the kernel/workers
};

class Engine;

class FileStore final : public BackingStore {
 public:
  // Opens or creates the backing file (see make_file_store in backing_store.h for the size rules).
  static std::unique_ptr<FileStore> open(const StoreOptions& o, std::error_code& ec, std::string& why);
  ~FileStore() override;

  uint64_t size() const override { return size_; }
  std::error_code grow(uint64_t new_size) override;
  bool thin() const override { return thin_; }
  std::string describe() const override { return "file:" + path_; }

  void read(uint64_t offset, std::span<uint8_t> buf, Completion done) override;
  void write(uint64_t offset, std::span<const uint8_t> buf, bool fua, Completion done) override;
  void flush(Completion done) override;
  void unmap(uint64_t offset, uint64_t length, Completion done) override;
  std::error_code extent(uint64_t offset, uint64_t max_length, Extent& out) override;

  // "io_uring" or "thread_pool".
  const char* engine_name() const;
  FileStoreStats stats() const;

 private:
  FileStore() = default;
  bool in_range(uint64_t offset, uint64_t length) const { return offset <= size_ && length <= size_ - offset; }

  std::string path_;
  int fd_ = -1;             // owned; closed after the engine has stopped
  std::atomic<uint64_t> size_{0};  // bytes served (may be less than the file's size)
  bool thin_ = false;       // hole punching works on this file
  bool read_only_ = false;
  bool block_device_ = false;
  // Page-cache fast path (see file_store.cpp): off for O_DIRECT and block devices.
  bool inline_io_ = false;
  // Inline buffered writes pause until this steady_clock time (ns) after one blocked.
  std::atomic<int64_t> inline_writes_paused_until_{0};
  // After a slow inline write, until this steady_clock time (ns), some inline writes count
  // their voluntary context switches to tell blocking from preemption (file_store.cpp).
  std::atomic<int64_t> inline_write_probe_until_{0};
  std::atomic<uint32_t> inline_write_probe_tick_{0};
  std::shared_ptr<StoreFaults> faults_;  // tests only (StoreOptions::faults)
  std::unique_ptr<Engine> engine_;
};

}  // namespace stmf::store
