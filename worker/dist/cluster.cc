#include "worker/dist/cluster.h"

#include <climits>
#include <cstdint>

#include "worker/dist/mpi_wait.h"

namespace dips {

using dist_internal::MpiErrorToStatus;

const char* RoleName(Role role) { return role == Role::kServer ? "server" : "worker"; }

StatusOr<std::unique_ptr<Cluster>> Cluster::Create(const ClusterOptions& options) {
  int rank = 0;
  int world_size = 0;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank"));
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_size(MPI_COMM_WORLD, &world_size), "MPI_Comm_size"));
  // Rejected before any collective: all ranks see the same world size, and a
  // launch that disagrees on num_servers is caught by the exchange below.
  if (options.num_servers < 1 || options.num_servers >= world_size) {
    return InvalidArgumentError(
        "Cluster: num_servers=" + std::to_string(options.num_servers) + " with " +
        std::to_string(world_size) +
        " MPI ranks; need 1 <= num_servers < ranks so that at least one worker remains");
  }
  if (options.timeout.count() <= 0) {
    return InvalidArgumentError("Cluster: timeout must be positive");
  }
  std::unique_ptr<Cluster> cluster(new Cluster(options, rank, world_size));

  auto world = std::make_shared<MPI_Comm>(MPI_COMM_NULL);
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_idup(MPI_COMM_WORLD, world.get(), &request),
                                   "Cluster: MPI_Comm_idup(MPI_COMM_WORLD)"));
  RETURN_IF_ERROR(cluster->Await(&request, "Cluster: duplicating MPI_COMM_WORLD", world));
  cluster->world_ = *world;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Comm_set_errhandler(cluster->world_, MPI_ERRORS_RETURN),
                                   "Cluster: MPI_Comm_set_errhandler"));

  // Every rank must agree on the split; this exchange also proves every rank
  // is present before the blocking MPI_Comm_split below.
  // counts[world_size] is this rank's own value, the send buffer.
  auto counts = std::make_shared<std::vector<int>>(world_size + 1);
  (*counts)[world_size] = options.num_servers;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallgather(&(*counts)[world_size], 1, MPI_INT, counts->data(), 1, MPI_INT,
                     cluster->world_, &request),
      "Cluster: MPI_Iallgather(num_servers)"));
  RETURN_IF_ERROR(cluster->Await(&request, "Cluster: exchanging num_servers among all ranks",
                                 counts));
  for (int r = 0; r < world_size; ++r) {
    if ((*counts)[r] != options.num_servers) {
      return InvalidArgumentError("Cluster: rank " + std::to_string(r) + " was started with num_servers=" +
                                  std::to_string((*counts)[r]) + ", rank " + std::to_string(rank) +
                                  " with " + std::to_string(options.num_servers));
    }
  }
  const int color = cluster->is_server() ? 0 : 1;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Comm_split(cluster->world_, color, rank, &cluster->role_comm_),
      "Cluster: MPI_Comm_split by role"));
  return cluster;
}

Cluster::~Cluster() {
  if (failed_) {
    // A timed-out operation may still touch these communicators and buffers;
    // the process is about to be aborted, so leak them rather than free
    // memory MPI may write into.
    new std::vector<std::shared_ptr<void>>(std::move(abandoned_buffers_));
    return;
  }
  if (role_comm_ != MPI_COMM_NULL) MPI_Comm_free(&role_comm_);
  if (world_ != MPI_COMM_NULL) MPI_Comm_free(&world_);
}

Status Cluster::Await(MPI_Request* request, std::string_view what,
                      std::shared_ptr<void> buffers) {
  Status status = dist_internal::WaitWithDeadline(request, options_.timeout, what);
  if (status.code() == StatusCode::kDeadlineExceeded) {
    failed_ = true;
    abandoned_buffers_.push_back(std::move(buffers));
  }
  return status;
}

Status Cluster::CheckUsable(std::string_view what) const {
  if (failed_) {
    return FailedPreconditionError(std::string(what) +
                                   ": an earlier collective timed out; the job must be aborted");
  }
  return Status::OK();
}

StatusOr<std::vector<std::string>> Cluster::AllGather(std::string_view mine) {
  RETURN_IF_ERROR(CheckUsable("Cluster::AllGather"));
  // Everything MPI reads or writes until the gather completes.
  struct Buffers {
    std::string send;
    int send_length = 0;
    std::vector<int> lengths;
    std::vector<int> offsets;
    std::string received;
  };
  auto b = std::make_shared<Buffers>();
  b->send.assign(mine);
  b->lengths.resize(world_size_);
  b->offsets.resize(world_size_);
  // Lengths first, so every rank sizes the same receive buffer; a rank whose
  // string cannot be described with an int sends -1 and all ranks fail alike.
  b->send_length =
      mine.size() <= static_cast<size_t>(INT_MAX) ? static_cast<int>(mine.size()) : -1;
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallgather(&b->send_length, 1, MPI_INT, b->lengths.data(), 1, MPI_INT, world_, &request),
      "Cluster::AllGather: MPI_Iallgather(lengths)"));
  RETURN_IF_ERROR(Await(&request, "Cluster::AllGather: exchanging string lengths", b));

  int64_t total = 0;
  for (int r = 0; r < world_size_; ++r) {
    if (b->lengths[r] < 0) {
      return InvalidArgumentError("Cluster::AllGather: rank " + std::to_string(r) +
                                  " contributed more than INT_MAX bytes");
    }
    b->offsets[r] = static_cast<int>(total);
    total += b->lengths[r];
    if (total > INT_MAX) {
      return InvalidArgumentError("Cluster::AllGather: contributions exceed INT_MAX bytes in all");
    }
  }
  b->received.assign(static_cast<size_t>(total), '\0');
  RETURN_IF_ERROR(MpiErrorToStatus(
      MPI_Iallgatherv(b->send.data(), b->send_length, MPI_CHAR, b->received.data(), b->lengths.data(),
                      b->offsets.data(), MPI_CHAR, world_, &request),
      "Cluster::AllGather: MPI_Iallgatherv"));
  RETURN_IF_ERROR(Await(&request, "Cluster::AllGather: exchanging strings", b));
  std::vector<std::string> result(world_size_);
  for (int r = 0; r < world_size_; ++r) {
    result[r] = b->received.substr(b->offsets[r], b->lengths[r]);
  }
  return result;
}

StatusOr<std::vector<std::string>> Cluster::ExchangeServerEndpoints(std::string_view my_endpoint) {
  ASSIGN_OR_RETURN(std::vector<std::string> all, AllGather(is_server() ? my_endpoint : ""));
  all.resize(num_servers_);
  for (int s = 0; s < num_servers_; ++s) {
    if (all[s].empty()) {
      return FailedPreconditionError("Cluster::ExchangeServerEndpoints: server rank " +
                                     std::to_string(s) + " published an empty endpoint");
    }
  }
  return all;
}

StatusOr<std::string> Cluster::BroadcastSecret(std::string_view secret) {
  RETURN_IF_ERROR(CheckUsable("Cluster::BroadcastSecret"));
  constexpr uint64_t kTooLarge = UINT64_MAX;
  auto length = std::make_shared<uint64_t>(0);
  if (rank_ == 0) *length = secret.size() <= kMaxSecretBytes ? secret.size() : kTooLarge;
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Ibcast(length.get(), 1, MPI_UINT64_T, 0, world_, &request),
                                   "Cluster::BroadcastSecret: MPI_Ibcast(length)"));
  RETURN_IF_ERROR(Await(&request, "Cluster::BroadcastSecret: secret length from rank 0", length));
  if (*length == kTooLarge) {
    return InvalidArgumentError("Cluster::BroadcastSecret: rank 0's secret exceeds " +
                                std::to_string(kMaxSecretBytes) + " bytes");
  }
  auto bytes = std::make_shared<std::string>(static_cast<size_t>(*length), '\0');
  if (rank_ == 0) bytes->assign(secret);
  if (!bytes->empty()) {
    RETURN_IF_ERROR(MpiErrorToStatus(
        MPI_Ibcast(bytes->data(), static_cast<int>(bytes->size()), MPI_CHAR, 0, world_, &request),
        "Cluster::BroadcastSecret: MPI_Ibcast(bytes)"));
    RETURN_IF_ERROR(Await(&request, "Cluster::BroadcastSecret: secret bytes from rank 0", bytes));
  }
  return std::string(*bytes);
}

Status Cluster::Barrier(std::string_view what) {
  RETURN_IF_ERROR(CheckUsable(what));
  MPI_Request request;
  RETURN_IF_ERROR(MpiErrorToStatus(MPI_Ibarrier(world_, &request), "Cluster: MPI_Ibarrier"));
  return Await(&request, std::string("Cluster::Barrier(") + std::string(what) + ")", nullptr);
}

}  // namespace dips
