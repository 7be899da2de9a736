// libmhd's handle: one iSCSI session (libiscsi) per opened disk, the MHIOC* requests on it, and
// the two library threads of a handle: the failfast probe and the reservation reinstatement.
// One mutex (io_) serializes the session; another (st_) guards the reservation state.
#include "mhd/mhd.h"

extern "C" {
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
}

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/log.h"
#include "mhd/scsi.h"
#include "mhd/takeown.h"

namespace {

using mhd::Clock;
using mhd::Ms;
using mhd::Outcome;

std::shared_ptr<spdlog::logger> log() {
  static auto l = stmf::logger("mhd");
  return l;
}

constexpr const char* kDefaultInitiator = "iqn.2026-11.org.example:mhd";
constexpr int kMaxRetries = 8;              // unit attentions / BUSY absorbed per command
constexpr Ms kBusyBackoff{20};
constexpr int kDefaultCommandTimeoutS = 10;
constexpr unsigned kDefaultFailfastFloorMs = 1;
constexpr unsigned kFailfastNoProbe = INT_MAX;  // sd: failfast for PGR use, no watch thread
constexpr size_t kMaxTransfer = 1 << 20;        // bytes per READ(10)/WRITE(10)
constexpr uint32_t kMaxBlockSize = 1 << 16;     // larger READ CAPACITY answers are refused
constexpr size_t kMaxInFlight = 8;              // commands of one mhd_pread/mhd_pwrite queued at once
constexpr int kPollSliceMs = 100;               // libiscsi scans its timeouts when serviced

// The ISID is derived from the initiator name (FNV-1a), so a host is the same I_T nexus on
// every open: its PR registrations (bound to name + ISID) stay its own across processes.
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

}  // namespace

struct mhd_handle {
  // The session.
  std::mutex io;
  iscsi_context* ctx = nullptr;
  int lun = 0;
  uint32_t block_size = 0;
  uint64_t blocks = 0;
  std::string initiator;
  std::string last_error;

  // Reservation state (sd's un_resvd_status), the threads and their parameters.
  std::mutex st;
  std::condition_variable cv;
  bool closing = false;
  bool reserved = false;       // SD_RESERVE: TKOWN succeeded, reinstate after resets
  bool lost_reserve = false;   // SD_LOST_RESERVE: a reset was seen while reserved
  bool want_reserve = false;   // SD_WANT_RESERVE: the reinstate thread should re-reserve
  Clock::time_point want_since{};
  bool reset_seen = false;     // any reset since TKOWN last looked
  unsigned failfast_ms = 0;    // 0: off
  uint64_t failfast_epoch = 0; // bumped on every MHIOCENFAILFAST: stops an old probe loop
  bool failfast_fired = false;
  Ms reinstate_delay = mhd::kDefaultReinstateResvDelay;
  std::thread probe, reinstate;

  mhd_failfast_fn ff_fn = nullptr;
  void* ff_arg = nullptr;
  Ms tkown_poll = mhd::kDefaultTkownPoll;
  unsigned failfast_floor_ms = kDefaultFailfastFloorMs;

  // ---- commands -------------------------------------------------------------------------
  // Runs one CDB, absorbing unit attentions (noting resets) and BUSY; io must not be held.
  Outcome run(const uint8_t* cdb, int cdb_len, int dir, uint8_t* out, size_t out_len, std::vector<uint8_t>* in,
              size_t in_len) {
    std::lock_guard<std::mutex> g(io);
    return run_locked(cdb, cdb_len, dir, out, out_len, in, in_len);
  }

  Outcome run_locked(const uint8_t* cdb, int cdb_len, int dir, uint8_t* out, size_t out_len,
                     std::vector<uint8_t>* in, size_t in_len) {
    Outcome o;
    for (int attempt = 0; attempt < kMaxRetries; ++attempt) {
      o = Outcome{};
      scsi_task* t = scsi_create_task(cdb_len, const_cast<uint8_t*>(cdb), dir,
                                      int(dir == SCSI_XFER_WRITE ? out_len : in_len));
      if (!t) {
        o.transport_error = true;
        break;
      }
      iscsi_data d{out_len, out};
      scsi_task* r = iscsi_scsi_command_sync(ctx, lun, t, dir == SCSI_XFER_WRITE ? &d : nullptr);
      if (!r) {
        o.transport_error = true;  // libiscsi keeps ownership of a task it could not send
        break;
      }
      if (r->status > 0xff) {
        o.transport_error = true;
      } else {
        o.status = r->status;
        if (r->status == SCSI_STATUS_CHECK_CONDITION) {
          o.sense_key = uint8_t(r->sense.key);
          o.asc_ascq = uint16_t(r->sense.ascq);
        }
        if (in && r->status == SCSI_STATUS_GOOD && r->datain.data && r->datain.size > 0)
          in->assign(r->datain.data, r->datain.data + r->datain.size);
      }
      scsi_free_scsi_task(r);
      if (o.unit_attention()) note_unit_attention(o);
      if (!o.retryable()) break;
      if (!o.unit_attention()) std::this_thread::sleep_for(kBusyBackoff);
    }
    last_error = mhd::describe(o);
    if (o.transport_error) last_error += std::string(": ") + iscsi_get_error(ctx);
    return o;
  }

  static Outcome outcome_of(int status, scsi_task* t) {
    Outcome o;
    if (status > 0xff || !t) {
      o.transport_error = true;
      return o;
    }
    o.status = status;
    if (status == SCSI_STATUS_CHECK_CONDITION) {
      o.sense_key = uint8_t(t->sense.key);
      o.asc_ascq = uint16_t(t->sense.ascq);
    }
    return o;
  }

  // One command of a multi-command read or write.
  struct Chunk {
    mhd::Cdb10 cdb{};
    uint8_t* buf = nullptr;
    size_t n = 0;
    bool write = false;
    iscsi_data data{};
    scsi_task* task = nullptr;  // while outstanding
    bool sent = false, done = false;
    Outcome o;
    std::vector<uint8_t> in;
  };

  static void chunk_done(iscsi_context*, int status, void* command_data, void* private_data) {
    auto* c = static_cast<Chunk*>(private_data);
    auto* t = static_cast<scsi_task*>(command_data);
    c->o = outcome_of(status, t);
    if (!c->write && t && status == SCSI_STATUS_GOOD && t->datain.data)
      c->in.assign(t->datain.data, t->datain.data + t->datain.size);
    if (t) scsi_free_scsi_task(t);
    c->task = nullptr;
    c->done = true;
  }

  // Queues the chunks together (at most kMaxInFlight outstanding), as a host's driver queues a
  // large request's commands; a chunk that meets a unit attention is sent again on its own.
  // The worst outcome wins: RESERVATION CONFLICT, then any other failure.
  Outcome run_chunks(std::vector<Chunk>& chunks) {
    std::lock_guard<std::mutex> g(io);
    size_t next = 0, outstanding = 0;
    bool broken = false;
    auto submit = [&] {
      while (!broken && next < chunks.size() && outstanding < kMaxInFlight) {
        Chunk& c = chunks[next++];
        scsi_task* t = scsi_create_task(10, c.cdb.data(), c.write ? SCSI_XFER_WRITE : SCSI_XFER_READ, int(c.n));
        c.data = iscsi_data{c.n, c.buf};
        c.sent = true;
        c.task = t;
        if (!t || iscsi_scsi_command_async(ctx, lun, t, chunk_done, c.write ? &c.data : nullptr, &c) != 0) {
          c.task = nullptr;
          c.o.transport_error = true;
          c.done = true;
          broken = true;
          continue;
        }
        ++outstanding;
      }
    };
    submit();
    while (outstanding > 0) {
      pollfd p{iscsi_get_fd(ctx), short(iscsi_which_events(ctx)), 0};
      int r = p.events ? ::poll(&p, 1, kPollSliceMs) : (std::this_thread::sleep_for(Ms(kPollSliceMs)), 0);
      if (r < 0 && errno != EINTR) break;
      if (iscsi_service(ctx, r > 0 ? p.revents : 0) < 0) break;
      outstanding = 0;
      for (size_t i = 0; i < next; ++i)
        if (chunks[i].sent && !chunks[i].done) ++outstanding;
      submit();
    }
    // The session broke under us: no callback may outlive this frame.
    for (size_t i = 0; i < next; ++i)
      if (chunks[i].sent && !chunks[i].done && chunks[i].task) iscsi_scsi_cancel_task(ctx, chunks[i].task);
    Outcome worst;
    for (Chunk& c : chunks) {
      if (!c.sent || !c.done) {
        c.o = Outcome{};
        c.o.transport_error = true;
      } else if (c.o.retryable()) {
        if (c.o.unit_attention()) note_unit_attention(c.o);
        std::vector<uint8_t> in;
        c.o = run_locked(c.cdb.data(), 10, c.write ? SCSI_XFER_WRITE : SCSI_XFER_READ, c.write ? c.buf : nullptr,
                         c.write ? c.n : 0, c.write ? nullptr : &in, c.n);
        if (!c.write) c.in = std::move(in);
      }
      if (c.o.conflict() || (!worst.conflict() && worst.good() && !c.o.good())) worst = c.o;
    }
    last_error = mhd::describe(worst);
    if (worst.transport_error) last_error += std::string(": ") + iscsi_get_error(ctx);
    return worst;
  }

  template <size_t N>
  Outcome simple(const std::array<uint8_t, N>& cdb) {
    return run(cdb.data(), int(N), SCSI_XFER_NONE, nullptr, 0, nullptr, 0);
  }

  void note_unit_attention(const Outcome& o) {
    if (o.asc() != mhd::kAscResetOccurred) return;
    std::lock_guard<std::mutex> g(st);
    reset_seen = true;
    if (reserved) {
      if (!want_reserve) want_since = Clock::now();
      lost_reserve = want_reserve = true;
      log()->info("{}: reset observed (unit attention 29h) while reserved: reinstating", initiator);
      cv.notify_all();
    }
  }

  bool lun_reset() {
    std::lock_guard<std::mutex> g(io);
    int rc = iscsi_task_mgmt_lun_reset_sync(ctx, uint32_t(lun));
    if (rc != 0) last_error = std::string("LOGICAL UNIT RESET failed: ") + iscsi_get_error(ctx);
    return rc == 0;
  }
  bool target_reset() {
    std::lock_guard<std::mutex> g(io);
    int rc = iscsi_task_mgmt_target_warm_reset_sync(ctx);
    if (rc != 0) last_error = std::string("TARGET WARM RESET failed: ") + iscsi_get_error(ctx);
    return rc == 0;
  }

  mhd::Reserve reserve6() {
    Outcome o = simple(mhd::reserve6_cdb());
    if (o.good()) return mhd::Reserve::kGood;
    if (o.conflict()) return mhd::Reserve::kConflict;
    if (o.unsupported()) return mhd::Reserve::kUnsupported;
    return mhd::Reserve::kError;
  }

  // ---- failfast ----------------------------------------------------------------------------
  void fire(const char* reason) {
    {
      std::lock_guard<std::mutex> g(st);
      if (failfast_ms == 0 || failfast_fired) return;
      failfast_fired = true;
      cv.notify_all();
    }
    log()->critical("{}: failfast: {}", initiator, reason);
    if (ff_fn) {
      ff_fn(this, reason, ff_arg);
      return;
    }
    std::fprintf(stderr, "mhd: failfast: %s lost access to the disk (%s): aborting\n", initiator.c_str(), reason);
    std::abort();
  }

  // The probe: TEST UNIT READY (what sd sends; a SCSI-2 reservation conflicts with it), then a
  // WRITE(10) of zero blocks, because SPC-3+ lets TEST UNIT READY through persistent
  // reservations: a zero-length write conflicts wherever a write would (non-holder under
  // WE/EA, non-registrant under the registrants-only types) and transfers nothing.
  bool probe_once() {
    Outcome o = simple(mhd::test_unit_ready_cdb());
    if (o.conflict()) return false;
    Outcome w = simple(mhd::write10_zero_length_cdb());
    return !w.conflict();
  }

  void probe_loop(uint64_t epoch, Ms every) {
    std::unique_lock<std::mutex> lk(st);
    for (;;) {
      if (cv.wait_for(lk, every, [&] { return closing || failfast_epoch != epoch || failfast_fired; })) return;
      lk.unlock();
      bool ok = probe_once();
      if (!ok) fire("probe got RESERVATION CONFLICT");
      lk.lock();
    }
  }

  void stop_probe_locked(std::unique_lock<std::mutex>& lk) {
    ++failfast_epoch;
    cv.notify_all();
    if (probe.joinable()) {
      std::thread t = std::move(probe);
      lk.unlock();
      if (t.get_id() == std::this_thread::get_id())
        t.detach();  // the failfast handler disabled failfast from the probe thread itself
      else
        t.join();
      lk.lock();
    }
  }

  // ---- reinstatement ------------------------------------------------------------------------
  // While reserved: every reinstate_delay a TEST UNIT READY watch (unless a failfast probe runs; the
  // probe watches otherwise) notices resets; reinstate_delay after a reset was noticed, the
  // reservation is re-taken with RESERVE (sd's reclaim thread). A RESERVATION CONFLICT then
  // means another host took the disk: the reservation is lost (and failfast, if on, fires).
  void reinstate_loop() {
    std::unique_lock<std::mutex> lk(st);
    Clock::time_point next_watch = Clock::now() + reinstate_delay;
    while (!closing && reserved) {
      bool was_want = want_reserve;
      Clock::time_point deadline = next_watch;
      if (want_reserve && want_since + reinstate_delay < deadline) deadline = want_since + reinstate_delay;
      cv.wait_until(lk, deadline, [&] { return closing || !reserved || want_reserve != was_want; });
      if (closing || !reserved) break;
      if (want_reserve != was_want) continue;  // a reset was just noticed: schedule the reclaim
      Clock::time_point now = Clock::now();
      if (now >= next_watch) {
        next_watch = now + reinstate_delay;
        if (failfast_ms == 0 || failfast_ms == kFailfastNoProbe) {  // no probe is watching
          lk.unlock();
          simple(mhd::test_unit_ready_cdb());
          lk.lock();
          continue;
        }
      }
      if (!want_reserve || now < want_since + reinstate_delay) continue;
      lk.unlock();
      mhd::Reserve r = reserve6();
      lk.lock();
      if (r == mhd::Reserve::kGood) {
        lost_reserve = want_reserve = false;
        log()->info("{}: reservation reinstated", initiator);
      } else if (r == mhd::Reserve::kConflict) {
        log()->warn("{}: reservation lost: another host holds the disk", initiator);
        reserved = lost_reserve = want_reserve = false;
        if (failfast_ms != 0) {
          lk.unlock();
          fire("reservation lost to another host");
          lk.lock();
        }
      } else {
        want_since = Clock::now();  // retry after another delay
        log()->warn("{}: reservation could not be reinstated ({}), retrying", initiator, last_error);
      }
    }
  }

  void stop_reinstate() {
    std::unique_lock<std::mutex> lk(st);
    reserved = false;
    lost_reserve = want_reserve = false;
    cv.notify_all();
    std::thread t = std::move(reinstate);
    lk.unlock();
    if (t.joinable()) t.join();
  }

  // ---- requests --------------------------------------------------------------------------
  int fail(int e) {
    errno = e;
    return -1;
  }

  int tkown(const mhioctkown* arg) {
    if (!mhd::valid_tkown_arg(arg)) return fail(EINVAL);
    mhd::TkownParams p = mhd::tkown_params(arg, tkown_poll);
    stop_reinstate();
    struct Ops : mhd::TkownOps {
      mhd_handle& h;
      explicit Ops(mhd_handle& hh) : h(hh) {}
      mhd::Reserve reserve() override { return h.reserve6(); }
      bool lun_reset() override { return h.lun_reset(); }
      bool target_reset() override { return h.target_reset(); }
      bool take_reset_seen() override {
        std::lock_guard<std::mutex> g(h.st);
        bool r = h.reset_seen;
        h.reset_seen = false;
        return r;
      }
      Clock::time_point now() override { return Clock::now(); }
      void sleep_until(Clock::time_point t) override { std::this_thread::sleep_until(t); }
    } ops(*this);
    {
      std::lock_guard<std::mutex> g(st);
      reset_seen = false;
    }
    int e = mhd::take_ownership(ops, p);
    if (e) {
      log()->info("{}: MHIOCTKOWN failed: {} ({})", initiator, std::strerror(e), last_error);
      return fail(e);
    }
    std::lock_guard<std::mutex> g(st);
    reserved = true;
    lost_reserve = want_reserve = false;
    reinstate_delay = p.reinstate_delay;
    reinstate = std::thread([this] { reinstate_loop(); });
    log()->info("{}: MHIOCTKOWN: disk owned", initiator);
    return 0;
  }

  int release() {
    stop_reinstate();
    Outcome o = simple(mhd::release6_cdb());
    if (int e = mhd::errno_for(o)) return fail(e);
    return 0;
  }

  int status() {
    Outcome o = simple(mhd::test_unit_ready_cdb());
    if (o.good()) return 0;
    if (o.conflict()) return 1;
    return fail(EIO);
  }

  int qreserve() {
    Outcome o = simple(mhd::reserve6_cdb());
    if (int e = mhd::errno_for(o)) return fail(e == EINVAL ? ENOTSUP : e);
    return 0;
  }

  int enfailfast(const unsigned* arg) {
    if (!arg) return fail(EFAULT);
    unsigned ms = *arg;
    std::unique_lock<std::mutex> lk(st);
    stop_probe_locked(lk);
    failfast_ms = ms;
    failfast_fired = false;
    if (ms == 0 || ms == kFailfastNoProbe) return 0;
    Ms every{ms < failfast_floor_ms ? failfast_floor_ms : ms};
    uint64_t epoch = failfast_epoch;
    probe = std::thread([this, epoch, every] { probe_loop(epoch, every); });
    return 0;
  }

  int pr_out(uint8_t sa, uint8_t scope, uint8_t type, const mhioc_resv_key_t& key, const mhioc_resv_key_t& sa_key,
             bool aptpl) {
    auto cdb = mhd::pr_out_cdb(sa, scope, type);
    auto params = mhd::pr_out_params(key, sa_key, aptpl);
    Outcome o = run(cdb.data(), int(cdb.size()), SCSI_XFER_WRITE, params.data(), params.size(), nullptr, 0);
    if (int e = mhd::errno_for(o)) return fail(e);
    return 0;
  }

  template <typename Out, typename Parse>
  int pr_in(uint8_t sa, Out* out, size_t entry, Parse parse) {
    if (!out) return 0;  // sd: a NULL argument does nothing
    if (!out->li || (out->li->listsize && !out->li->list)) return fail(EFAULT);
    uint16_t alloc = mhd::pr_in_allocation(out->li->listsize, entry);
    auto cdb = mhd::pr_in_cdb(sa, alloc);
    std::vector<uint8_t> data;
    Outcome o = run(cdb.data(), int(cdb.size()), SCSI_XFER_READ, nullptr, 0, &data, alloc);
    if (int e = mhd::errno_for(o)) return fail(e);
    if (int e = parse(data.data(), data.size(), out)) return fail(e);
    return 0;
  }

  int ioctl(int request, void* arg) {
    switch (request) {
      case MHIOCENFAILFAST:
        return enfailfast(static_cast<const unsigned*>(arg));
      case MHIOCTKOWN:
        return tkown(static_cast<const mhioctkown*>(arg));
      case MHIOCRELEASE:
        return release();
      case MHIOCSTATUS:
        return status();
      case MHIOCQRESERVE:
        return qreserve();
      case MHIOCGRP_INKEYS:
        return pr_in(mhd::pr_in::kReadKeys, static_cast<mhioc_inkeys_t*>(arg), MHIOC_RESV_KEY_SIZE,
                     mhd::parse_read_keys);
      case MHIOCGRP_INRESV:
        return pr_in(mhd::pr_in::kReadReservation, static_cast<mhioc_inresvs_t*>(arg), mhd::kPrInResvDescLen,
                     mhd::parse_read_reservation);
      case MHIOCGRP_REGISTER: {
        auto* r = static_cast<const mhioc_register_t*>(arg);
        if (!r) return 0;
        return pr_out(mhd::pr_out::kRegister, 0, 0, r->oldkey, r->newkey, r->aptpl != B_FALSE);
      }
      case MHIOCGRP_RESERVE: {
        auto* r = static_cast<const mhioc_resv_desc_t*>(arg);
        if (!r) return 0;
        return pr_out(mhd::pr_out::kReserve, r->scope, r->type, r->key, mhd::make_key(0), false);
      }
      case MHIOCGRP_PREEMPTANDABORT:
      case MHIOCGRP_PREEMPT: {
        auto* r = static_cast<const mhioc_preemptandabort_t*>(arg);
        if (!r) return 0;
        return pr_out(request == MHIOCGRP_PREEMPT ? mhd::pr_out::kPreempt : mhd::pr_out::kPreemptAndAbort,
                      r->resvdesc.scope, r->resvdesc.type, r->resvdesc.key, r->victim_key, false);
      }
      case MHIOCGRP_CLEAR: {
        auto* k = static_cast<const mhioc_resv_key_t*>(arg);
        if (!k) return 0;
        return pr_out(mhd::pr_out::kClear, 0, 0, *k, mhd::make_key(0), false);
      }
      case MHIOCGRP_REGISTERANDIGNOREKEY: {
        auto* r = static_cast<const mhioc_registerandignorekey_t*>(arg);
        if (!r) return 0;
        return pr_out(mhd::pr_out::kRegisterAndIgnoreExistingKey, 0, 0, mhd::make_key(0), r->newkey,
                      r->aptpl != B_FALSE);
      }
      case MHIOCREREGISTERDEVID:  // no device ids to re-register over iSCSI
      default:
        return fail(ENOTTY);
    }
  }

  // ---- I/O ------------------------------------------------------------------------------
  bool read_capacity() {
    std::lock_guard<std::mutex> g(io);
    scsi_task* t = iscsi_readcapacity10_sync(ctx, lun, 0, 0);
    if (t && t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
      scsi_free_scsi_task(t);
      t = iscsi_readcapacity10_sync(ctx, lun, 0, 0);
    }
    if (!t) return false;
    bool ok = false;
    if (t->status == SCSI_STATUS_GOOD) {
      auto* rc = static_cast<scsi_readcapacity10*>(scsi_datain_unmarshall(t));
      if (rc && rc->block_size && rc->block_size <= kMaxBlockSize) {
        block_size = rc->block_size;
        blocks = uint64_t(rc->lba) + 1;
        ok = true;
      }
    }
    scsi_free_scsi_task(t);
    return ok;
  }

  ssize_t rw(bool write, uint8_t* buf, size_t nbytes, off_t offset) {
    if (!block_size && !read_capacity()) {
      // Without a block size the disk cannot be addressed; most likely another host's
      // reservation refuses READ CAPACITY. Find out with the probe the failfast rule uses.
      Outcome o = simple(mhd::test_unit_ready_cdb());
      if (o.conflict()) {
        fire("I/O got RESERVATION CONFLICT");
        return fail(EACCES);
      }
      return fail(EIO);
    }
    if (offset < 0 || offset % block_size || nbytes % block_size) return fail(EINVAL);
    size_t chunk_max = kMaxTransfer - kMaxTransfer % block_size;
    std::vector<Chunk> chunks;
    for (size_t done = 0; done < nbytes;) {
      size_t n = std::min(nbytes - done, chunk_max);
      uint64_t lba = (uint64_t(offset) + done) / block_size;
      if (lba + n / block_size > UINT32_MAX) return fail(EINVAL);
      uint32_t blocks_n = uint32_t(n / block_size);
      Chunk c;
      c.cdb = {write ? mhd::op::kWrite10 : mhd::op::kRead10, 0, uint8_t(lba >> 24), uint8_t(lba >> 16),
               uint8_t(lba >> 8), uint8_t(lba), 0, uint8_t(blocks_n >> 8), uint8_t(blocks_n), 0};
      c.buf = buf + done;
      c.n = n;
      c.write = write;
      chunks.push_back(std::move(c));
      done += n;
    }
    Outcome o = run_chunks(chunks);
    if (o.conflict()) {
      fire("I/O got RESERVATION CONFLICT");
      return fail(EACCES);
    }
    if (int e = mhd::errno_for(o)) return fail(e == EINVAL ? EIO : e);
    if (!write)
      for (Chunk& c : chunks) {
        if (c.in.size() < c.n) return fail(EIO);
        std::memcpy(c.buf, c.in.data(), c.n);
      }
    size_t done = nbytes;
    return ssize_t(done);
  }
  ~mhd_handle() {
    {
      std::unique_lock<std::mutex> lk(st);
      closing = true;
      stop_probe_locked(lk);
    }
    stop_reinstate();
    if (ctx) {
      iscsi_logout_sync(ctx);
      iscsi_destroy_context(ctx);
    }
  }
};

extern "C" {

mhd_handle_t* mhd_open(const char* url, const char* initiator, int flags) {
  if (!url) {
    errno = EINVAL;
    return nullptr;
  }
  auto h = std::make_unique<mhd_handle>();
  // Closing a half-open handle logs out, which may touch errno: set it last.
  auto fail_open = [&h](int e) -> mhd_handle_t* {
    h.reset();
    errno = e;
    return nullptr;
  };
  h->initiator = initiator && *initiator ? initiator : kDefaultInitiator;
  h->ctx = iscsi_create_context(h->initiator.c_str());
  if (!h->ctx) return fail_open(ENOMEM);
  iscsi_url* u = iscsi_parse_full_url(h->ctx, url);
  if (!u) {
    log()->warn("mhd_open: bad URL {}: {}", url, iscsi_get_error(h->ctx));
    return fail_open(EINVAL);
  }
  uint64_t id = fnv1a(h->initiator);
  iscsi_set_isid_random(h->ctx, uint32_t(id & 0xffffff), uint32_t((id >> 24) & 0xffff));
  iscsi_set_targetname(h->ctx, u->target);
  iscsi_set_session_type(h->ctx, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(h->ctx, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  iscsi_set_timeout(h->ctx, kDefaultCommandTimeoutS);
  if (u->user[0]) iscsi_set_initiator_username_pwd(h->ctx, u->user, u->passwd);
  h->lun = u->lun;
  int rc = iscsi_full_connect_sync(h->ctx, u->portal, u->lun);
  iscsi_destroy_url(u);
  if (rc != 0) {
    std::string err = iscsi_get_error(h->ctx);
    log()->warn("mhd_open: {} as {}: login failed: {}", url, h->initiator, err);
    return fail_open((err.find("Authentication failure") != std::string::npos ||
                      err.find("Authorization failure") != std::string::npos)
                         ? EPERM
                         : (err.find("not found") != std::string::npos ? ENXIO : EIO));
  }
  // Consume the unit attentions a new nexus sees; without O_NDELAY, a conflicting reservation
  // refuses the open (TEST UNIT READY for SCSI-2, READ of block 0 for persistent ones).
  Outcome o = h->simple(mhd::test_unit_ready_cdb());
  if (!(flags & O_NDELAY)) {
    if (o.conflict()) return fail_open(EACCES);
    if (!h->read_capacity()) return fail_open(EIO);
    std::vector<uint8_t> block(h->block_size);
    if (h->rw(false, block.data(), block.size(), 0) < 0) return fail_open(errno);
  } else {
    h->read_capacity();  // may be refused by another host's reservation: retried at first I/O
  }
  return h.release();
}

int mhd_ioctl(mhd_handle_t* h, int request, void* arg) {
  if (!h) {
    errno = EBADF;
    return -1;
  }
  return h->ioctl(request, arg);
}

int mhd_close(mhd_handle_t* h) {
  if (!h) {
    errno = EBADF;
    return -1;
  }
  delete h;
  return 0;
}

ssize_t mhd_pread(mhd_handle_t* h, void* buf, size_t nbytes, off_t offset) {
  if (!h) {
    errno = EBADF;
    return -1;
  }
  return h->rw(false, static_cast<uint8_t*>(buf), nbytes, offset);
}

ssize_t mhd_pwrite(mhd_handle_t* h, const void* buf, size_t nbytes, off_t offset) {
  if (!h) {
    errno = EBADF;
    return -1;
  }
  return h->rw(true, static_cast<uint8_t*>(const_cast<void*>(buf)), nbytes, offset);
}

uint32_t mhd_block_size(const mhd_handle_t* h) { return h ? h->block_size : 0; }
uint64_t mhd_capacity(const mhd_handle_t* h) { return h ? h->blocks * h->block_size : 0; }

void mhd_set_failfast_handler(mhd_handle_t* h, mhd_failfast_fn fn, void* arg) {
  if (!h) return;
  std::lock_guard<std::mutex> g(h->st);
  h->ff_fn = fn;
  h->ff_arg = arg;
}

int mhd_set_param(mhd_handle_t* h, int param, int value) {
  if (!h) {
    errno = EBADF;
    return -1;
  }
  if (value <= 0) {
    errno = EINVAL;
    return -1;
  }
  if (param == MHD_PARAM_COMMAND_TIMEOUT_S) {
    std::lock_guard<std::mutex> io(h->io);  // never under st: run() takes io, then st
    iscsi_set_timeout(h->ctx, value);
    return 0;
  }
  std::lock_guard<std::mutex> g(h->st);
  switch (param) {
    case MHD_PARAM_TKOWN_POLL_MS:
      h->tkown_poll = Ms(value);
      return 0;
    case MHD_PARAM_FAILFAST_MIN_MS:
      h->failfast_floor_ms = unsigned(value);
      return 0;
    default:
      errno = EINVAL;
      return -1;
  }
}

const char* mhd_last_error(const mhd_handle_t* h) { return h ? h->last_error.c_str() : "no handle"; }

const char* mhd_request_name(int request) {
  switch (request) {
    case MHIOCENFAILFAST: return "MHIOCENFAILFAST";
    case MHIOCTKOWN: return "MHIOCTKOWN";
    case MHIOCRELEASE: return "MHIOCRELEASE";
    case MHIOCSTATUS: return "MHIOCSTATUS";
    case MHIOCGRP_INKEYS: return "MHIOCGRP_INKEYS";
    case MHIOCGRP_INRESV: return "MHIOCGRP_INRESV";
    case MHIOCGRP_REGISTER: return "MHIOCGRP_REGISTER";
    case MHIOCGRP_RESERVE: return "MHIOCGRP_RESERVE";
    case MHIOCGRP_PREEMPTANDABORT: return "MHIOCGRP_PREEMPTANDABORT";
    case MHIOCGRP_PREEMPT: return "MHIOCGRP_PREEMPT";
    case MHIOCGRP_CLEAR: return "MHIOCGRP_CLEAR";
    case MHIOCQRESERVE: return "MHIOCQRESERVE";
    case MHIOCREREGISTERDEVID: return "MHIOCREREGISTERDEVID";
    case MHIOCGRP_REGISTERANDIGNOREKEY: return "MHIOCGRP_REGISTERANDIGNOREKEY";
    default: return nullptr;
  }
}

}  // extern "C"
