#include "worker/client/ticket_book.h"

#include <string>

namespace dips {

Ticket TicketBook::Open(int parts) {
  std::lock_guard<std::mutex> lock(mu_);
  const Ticket ticket = next_++;
  states_[ticket].remaining = parts;
  return ticket;
}

Ticket TicketBook::OpenFailed(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  const Ticket ticket = next_++;
  states_[ticket].status = status;
  return ticket;
}

void TicketBook::Complete(Ticket ticket, const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = states_.find(ticket);
  CHECK(it != states_.end()) << "completion for unknown ticket " << ticket;
  State& state = it->second;
  CHECK_GT(state.remaining, 0) << "ticket " << ticket << " completed too often";
  if (!status.ok() && state.status.ok()) state.status = status;
  if (--state.remaining == 0) done_.notify_all();
}

Status TicketBook::Wait(Ticket ticket) {
  std::unique_lock<std::mutex> lock(mu_);
  auto it = states_.find(ticket);
  if (it == states_.end()) {
    return InvalidArgumentError("unknown or already waited ticket " + std::to_string(ticket));
  }
  // Every part completes: the I/O thread answers, fails or times out each.
  done_.wait(lock, [&] {
    auto f = states_.find(ticket);
    return f == states_.end() || f->second.remaining == 0;
  });
  it = states_.find(ticket);
  if (it == states_.end()) {
    return InvalidArgumentError("ticket " + std::to_string(ticket) + " waited by two threads");
  }
  Status status = it->second.status;
  states_.erase(it);
  return status;
}

}  // namespace dips
