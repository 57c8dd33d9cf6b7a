// A finished request run again through its route's action, after the client has its answer,
// with nobody listening: only the route's response filters see what comes back. This is how
// a cache refreshes the stale entry it just served (stale_while_revalidate) without making a
// client wait. The copy owns everything it reads (the head, the path, the runtime snapshot),
// runs on the same worker, and ends on its own.
#pragma once

#include <memory>

#include "proxy/request_context.h"

namespace portico::proxy {

struct Runtime;
struct CompiledRoute;

// Starts the copy of `ctx`'s request (its head, identity and the filters' upstream edits) on
// `services.io`; returns at once. The request must not have a body (GET, HEAD).
void run_in_background(const std::shared_ptr<const Runtime>& runtime, const CompiledRoute& route,
                       const RequestContext& ctx, WorkerServices& services);

}  // namespace portico::proxy
