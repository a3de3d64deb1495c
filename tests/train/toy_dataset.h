// A small learnable behaviour log for trainer tests: a user's history comes
// from two favourite categories; the label is mostly 1 when the target's
// category is one of them and mostly 0 otherwise, so a working model must
// rank well.
#ifndef DIPS_TESTS_TRAIN_TOY_DATASET_H_
#define DIPS_TESTS_TRAIN_TOY_DATASET_H_

#include <cstdint>
#include <fstream>
#include <random>
#include <string>

namespace dips {

inline constexpr int kCategories = 10;
inline constexpr int kItems = 200;

inline std::string Item(int i) { return "i" + std::to_string(i); }
inline std::string Category(int item) { return "c" + std::to_string(item % kCategories); }

inline void WriteDataset(const std::string& path, int lines, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::ofstream out(path);
  for (int n = 0; n < lines; ++n) {
    const int user = static_cast<int>(rng() % 300);
    const int fav_a = user % kCategories;
    const int fav_b = (user / kCategories) % kCategories;
    // Items whose category is c are c, c + 10, c + 20, ...
    auto item_of = [&](int category) {
      return category + kCategories * static_cast<int>(rng() % (kItems / kCategories));
    };
    const int length = 3 + static_cast<int>(rng() % 12);
    std::string items, cats;
    for (int t = 0; t < length; ++t) {
      const int it = item_of(rng() % 2 ? fav_a : fav_b);
      if (t > 0) {
        items += '\x02';
        cats += '\x02';
      }
      items += Item(it);
      cats += Category(it);
    }
    const bool liked = rng() % 2 == 0;
    const int target = liked ? item_of(rng() % 2 ? fav_a : fav_b) : item_of(rng() % kCategories);
    const bool matches = target % kCategories == fav_a || target % kCategories == fav_b;
    const bool label = std::uniform_real_distribution<double>(0, 1)(rng) < (matches ? 0.9 : 0.1);
    out << (label ? "1" : "0") << '\t' << "u" << user << '\t' << Item(target) << '\t'
        << Category(target) << '\t' << items << '\t' << cats << '\n';
  }
}

}  // namespace dips

#endif  // DIPS_TESTS_TRAIN_TOY_DATASET_H_
