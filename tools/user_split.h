// Train/test split by user: a user's samples all go to one side, decided by a
// seeded hash of the raw user id, so the split is reproducible for a seed,
// independent of input order and needs no state.
#ifndef DIPS_TOOLS_USER_SPLIT_H_
#define DIPS_TOOLS_USER_SPLIT_H_

#include <cstdint>
#include <string_view>

#include "common/feature_key.h"

namespace dips {

// True when `user` belongs to the test side: the top 53 bits of
// Hash64(user, seed), read as a fraction in [0, 1), fall below test_fraction.
inline bool IsTestUser(std::string_view user, uint64_t seed, double test_fraction) {
  uint64_t h = Hash64(user.data(), user.size(), seed);
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0) < test_fraction;
}

}  // namespace dips

#endif  // DIPS_TOOLS_USER_SPLIT_H_
