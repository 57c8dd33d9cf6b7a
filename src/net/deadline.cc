#include "net/deadline.h"

namespace portico::net {

Deadline::Deadline(DeadlineList& list) : list_(list) {
  next_ = list_.head_;
  if (next_) next_->prev_ = this;
  list_.head_ = this;
}

Deadline::~Deadline() {
  if (prev_)
    prev_->next_ = next_;
  else
    list_.head_ = next_;
  if (next_) next_->prev_ = prev_;
}

void Deadline::arm(boost::asio::ip::tcp::socket& socket, std::chrono::milliseconds after) {
  socket_ = &socket;
  when_ = Clock::now() + after;
  fired_ = false;
}

void DeadlineList::sweep(Clock::time_point now) {
  for (Deadline* d = head_; d; d = d->next_) {
    if (d->socket_ && d->when_ <= now) {
      d->fired_ = true;
      boost::system::error_code ignored;
      d->socket_->cancel(ignored);
      d->socket_ = nullptr;
    }
  }
}

}  // namespace portico::net
