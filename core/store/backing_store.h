// Backing store interface (the STMF "lpif backend" role): where an LU's blocks live.
// A backing store never sees a CDB; the block LU translates commands into these calls.
//
// Ownership and threading:
//  - The caller owns the buffers and keeps them alive until the completion runs.
//  - Every call completes exactly once through its Completion, possibly inline (RAM/null
//    stores), possibly on a store-owned thread (file store). The completion must be cheap and
//    must not block; callers re-post to their own executor if they need to.
//  - All methods are thread-safe: many tasks on many connections call them concurrently.
//  - Errors are std::system_category codes: a range outside [0, size()) is EINVAL, a write or
//    unmap on a read-only store is EROFS, I/O failures carry the kernel's errno. A store whose
//    medium is out of reach for now (the iscsi store's backend connection is down) says
//    ENOTCONN: the block LU answers NOT READY, LOGICAL UNIT IS IN PROCESS OF BECOMING READY.
//    A store fenced at its medium (the iscsi store's reservation key was preempted on the SAN,
//    docs/failover.md "Fencing at the storage") says EKEYREVOKED (fenced_error()): the block LU
//    answers NOT READY, ASYMMETRIC ACCESS STATE TRANSITION (the initiator goes to the other node).
#pragma once
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace stmf::store {

using Completion = std::function<void(std::error_code)>;

// What a fenced store answers (above).
inline std::error_code fenced_error() { return {EKEYREVOKED, std::system_category()}; }

// Result of a provisioning query (SBC-3 GET LBA STATUS): whether [offset, offset+length)
// starts with mapped or deallocated bytes, and how many bytes share that state.
struct Extent {
  bool mapped = true;
  uint64_t length = 0;
};

// extent() of a store that keeps no allocation map at hand (the iscsi and rbd stores): every
// range of a store of `size` bytes reports mapped.
inline std::error_code all_mapped_extent(uint64_t size, uint64_t offset, uint64_t max_length, Extent& out) {
  if (offset >= size) return std::make_error_code(std::errc::invalid_argument);
  out.mapped = true;
  out.length = max_length < size - offset ? max_length : size - offset;
  return {};
}

class BackingStore {
 public:
  virtual ~BackingStore() = default;

  // Size in bytes.
  virtual uint64_t size() const = 0;
  // Grows the store to `new_size` bytes (modify-lu -s). Shrinking is refused (EINVAL); stores
  // that cannot grow say ENOTSUP. Safe while I/O runs: ranges beyond the old size become
  // valid once this returns.
  virtual std::error_code grow(uint64_t new_size) {
    (void)new_size;
    return std::make_error_code(std::errc::operation_not_supported);
  }
  // True when unmap() really deallocates (thin provisioning): sparse files, RAM.
  virtual bool thin() const = 0;
  // A short name for logs: "file:/path", "ram", "null", "iscsi://host/iqn/lun".
  virtual std::string describe() const = 0;
  // False while the medium is out of reach (iscsi store: backend connection down): TEST UNIT
  // READY then answers NOT READY (02/04/01). Data commands still come to the store, which
  // completes them (ENOTCONN) or holds them for a reconnection as it sees fit.
  virtual bool ready() const { return true; }

  // Reads buf.size() bytes at offset. Reading a deallocated range yields zeroes.
  virtual void read(uint64_t offset, std::span<uint8_t> buf, Completion done) = 0;
  // Writes buf at offset. With fua, the data is on stable storage when done runs.
  virtual void write(uint64_t offset, std::span<const uint8_t> buf, bool fua, Completion done) = 0;
  // Makes every completed write durable (SYNCHRONIZE CACHE).
  virtual void flush(Completion done) = 0;
  // Deallocates [offset, offset+length); afterwards the range reads as zeroes.
  virtual void unmap(uint64_t offset, uint64_t length, Completion done) = 0;
  // Provisioning status of the range starting at offset (synchronous, metadata only).
  virtual std::error_code extent(uint64_t offset, uint64_t max_length, Extent& out) = 0;
};

// File store I/O engine. automatic: io_uring, falling back to the thread pool (logged) when the
// kernel or a seccomp policy refuses io_uring. The explicit values fail instead of falling back.
enum class IoEngine { automatic, io_uring, thread_pool };

struct StoreFaults;  // core/store/store_faults.h

struct StoreOptions {
  std::string path;          // file store: backing file; created sparse if missing
  uint64_t size = 0;         // bytes; 0 = use the existing file's size
  bool read_only = false;
  bool direct = false;       // O_DIRECT
  unsigned queue_depth = 128;  // file store: io_uring entries / in-flight limit
  IoEngine engine = IoEngine::automatic;  // file store only
  // File store: serve page-cache hits (reads) and buffered writes on the caller's thread
  // instead of through the engine (see file_store.cpp for the measurements and the guard).
  bool inline_page_cache = true;
  // File store, tests only: operations to fail on purpose (store_faults.h). Null in the daemon.
  std::shared_ptr<StoreFaults> faults;
};

// Factories. Errors (cannot open/create, size mismatch) come back as error codes with a
// message in `why`; no exceptions.
// File store sizes: a missing file is created sparse at `size` (size 0 is then an error); an
// existing file with size 0 serves the file's size; a larger size grows it sparse (not when
// read-only); a smaller size serves only the first `size` bytes and leaves the rest untouched.
std::unique_ptr<BackingStore> make_file_store(const StoreOptions& o, std::error_code& ec, std::string& why);
std::unique_ptr<BackingStore> make_ram_store(uint64_t size);
// A store that holds nothing: reads return zeroes (the buffer is cleared), writes are dropped.
std::unique_ptr<BackingStore> make_null_store(uint64_t size);

}  // namespace stmf::store
