// TicketBook: the client's record of operations in flight. An operation is
// split into parts (one per shard); the ticket is done when every part has
// completed, and carries the first error. Internal to worker/client.
//
// Thread-safety: all methods may be called concurrently (callers open and
// wait; the I/O thread completes).
#ifndef DIPS_WORKER_CLIENT_TICKET_BOOK_H_
#define DIPS_WORKER_CLIENT_TICKET_BOOK_H_

#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "worker/client/ps_client.h"

namespace dips {

class TicketBook {
 public:
  // A new ticket waiting for `parts` completions (0: done at once, OK).
  Ticket Open(int parts);
  // A new ticket that is already done with `status`.
  Ticket OpenFailed(const Status& status);
  // One part of `ticket` finished with `status`.
  void Complete(Ticket ticket, const Status& status);
  // Blocks until `ticket` is done, forgets it and returns its status.
  Status Wait(Ticket ticket);

 private:
  struct State {
    int remaining = 0;
    Status status;
  };
  std::mutex mu_;
  std::condition_variable done_;
  Ticket next_ GUARDED_BY(mu_) = 1;
  std::unordered_map<Ticket, State> states_ GUARDED_BY(mu_);
};

}  // namespace dips

#endif  // DIPS_WORKER_CLIENT_TICKET_BOOK_H_
