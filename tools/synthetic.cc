#include "tools/synthetic.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <utility>
#include <vector>

#include "tools/synthetic_world.h"
#include "tools/user_split.h"

namespace dips {
namespace {

constexpr uint64_t kUserStreamSalt = 0x5553'4552'0000'0005ULL;
constexpr int kNumColumns = 3;  // item, category, shop
constexpr int kItemColumn = 0, kCategoryColumn = 1, kShopColumn = 2;

Status Validate(const SyntheticOptions& o) {
  auto bad = [](const std::string& m) { return InvalidArgumentError("synthetic: " + m); };
  if (o.train_path.empty() || o.test_path.empty()) return bad("train_path and test_path required");
  if (o.users <= 0 || o.items <= 0 || o.shops <= 0 || o.categories <= 0) {
    return bad("users, items, shops and categories must be positive");
  }
  if (o.items > (int64_t{1} << 31) || o.shops > (int64_t{1} << 31)) return bad("too many items/shops");
  if (o.items < o.categories) return bad("need at least one item per category");
  if (o.categories <= o.max_interests) return bad("need more categories than max_interests");
  if (o.train_samples < 0 || o.test_samples < 0) return bad("sample counts must be >= 0");
  if (o.test_user_fraction < 0.0 || o.test_user_fraction > 1.0) {
    return bad("test_user_fraction must be in [0, 1]");
  }
  if (o.min_history < 1 || o.max_history < o.min_history) {
    return bad("need 1 <= min_history <= max_history");
  }
  if (o.behaviours_between_samples < 1) return bad("behaviours_between_samples must be >= 1");
  if (o.min_interests < 1 || o.max_interests < o.min_interests) {
    return bad("need 1 <= min_interests <= max_interests");
  }
  if (o.min_phase < 1 || o.max_phase < o.min_phase) return bad("need 1 <= min_phase <= max_phase");
  if (o.explore_rate < 0.0 || o.explore_rate > 1.0) return bad("explore_rate must be in [0, 1]");
  if (o.target_current_rate < 0.0 || o.target_history_rate < 0.0 ||
      o.target_current_rate + o.target_history_rate > 1.0) {
    return bad("target rates must be >= 0 and sum to <= 1");
  }
  if (o.click.recent_window < 1) return bad("recent_window must be >= 1");
  return Status::OK();
}

void AppendNumber(uint64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// One user's behaviours, kept both as ids and as 0x02-joined decimal text per
// column, so the history of a sample is a substring: one memcpy per column
// however long the window.
class BehaviourTrack {
 public:
  void Clear() {
    categories_.clear();
    for (int c = 0; c < kNumColumns; ++c) {
      text_[c].clear();
      ends_[c].assign(1, 0);
    }
  }
  void Append(uint32_t item, uint32_t category, uint32_t shop) {
    const uint32_t ids[kNumColumns] = {item, category, shop};
    for (int c = 0; c < kNumColumns; ++c) {
      AppendNumber(ids[c], &text_[c]);
      text_[c].push_back('\x02');
      ends_[c].push_back(text_[c].size());
    }
    categories_.push_back(category);
  }
  size_t size() const { return categories_.size(); }
  uint32_t category(size_t t) const { return categories_[t]; }
  // Behaviours [begin, end) of `column`, joined by 0x02 (no trailing one).
  std::string_view Window(int column, size_t begin, size_t end) const {
    if (begin == end) return {};
    size_t from = ends_[column][begin];
    return std::string_view(text_[column]).substr(from, ends_[column][end] - from - 1);
  }

 private:
  std::vector<uint32_t> categories_;
  std::string text_[kNumColumns];
  std::vector<size_t> ends_[kNumColumns];  // ends_[c][t] = text offset after behaviour t-1
};

// AUC of scores against labels, ties counted one half.
double Auc(std::vector<std::pair<float, bool>>* scored) {
  std::sort(scored->begin(), scored->end());
  double positives = 0, negatives_below = 0, area = 0;
  size_t i = 0;
  while (i < scored->size()) {
    size_t j = i;
    double pos = 0, neg = 0;
    for (; j < scored->size() && (*scored)[j].first == (*scored)[i].first; ++j) {
      ((*scored)[j].second ? pos : neg) += 1;
    }
    area += pos * (negatives_below + 0.5 * neg);
    positives += pos;
    negatives_below += neg;
    i = j;
  }
  double total = positives * negatives_below;
  return total > 0 ? area / total : -1.0;
}

class Generator {
 public:
  explicit Generator(const SyntheticOptions& options)
      : o_(options),
        catalog_(options),
        click_(options.click, options.seed),
        last_category_(options.categories, -1),
        last_shop_(options.shops, -1),
        item_seen_(options.items, false),
        category_seen_(options.categories, false),
        shop_seen_(options.shops, false) {}

  // Writes `num_samples` samples of `user` to `out`.
  Status GenerateUser(uint64_t user, int64_t num_samples, bool is_test, LineWriter* out);
  void Finish(DatasetSummary* summary);

 private:
  void Step(Rng* rng);
  void ChangeInterest(Rng* rng);
  void ResetUser();

  const SyntheticOptions& o_;
  SyntheticCatalog catalog_;
  ClickModel click_;
  BehaviourTrack track_;
  std::vector<uint32_t> interests_;
  int phase_left_ = 0;
  // Position of the latest behaviour with this category/shop in the current
  // user's track, -1 if none; reset per user through the track.
  std::vector<int64_t> last_category_;
  std::vector<int64_t> last_shop_;
  std::vector<uint32_t> touched_shops_;
  std::string line_;
  std::vector<bool> item_seen_, category_seen_, shop_seen_;
  std::vector<std::pair<float, bool>> test_scores_;
  DatasetSummary counts_;
};

void Generator::ResetUser() {
  for (size_t t = 0; t < track_.size(); ++t) last_category_[track_.category(t)] = -1;
  for (uint32_t s : touched_shops_) last_shop_[s] = -1;
  touched_shops_.clear();
  track_.Clear();
}

void Generator::ChangeInterest(Rng* rng) {
  // Replace one interest by a category the user does not hold yet; the loop
  // ends quickly because categories > max_interests (Validate).
  size_t slot = rng->Below(interests_.size());
  uint32_t fresh;
  do {
    fresh = catalog_.SampleCategory(rng);
  } while (std::find(interests_.begin(), interests_.end(), fresh) != interests_.end());
  interests_[slot] = fresh;
}

void Generator::Step(Rng* rng) {
  if (phase_left_ == 0) {
    ChangeInterest(rng);
    phase_left_ = static_cast<int>(rng->Between(o_.min_phase, o_.max_phase));
  }
  --phase_left_;
  uint32_t category = rng->Bernoulli(o_.explore_rate)
                          ? catalog_.SampleCategory(rng)
                          : interests_[rng->Below(interests_.size())];
  uint32_t item = catalog_.SampleItem(category, rng);
  uint32_t shop = catalog_.shop(item);
  int64_t t = static_cast<int64_t>(track_.size());
  track_.Append(item, category, shop);
  last_category_[category] = t;
  if (last_shop_[shop] < 0) touched_shops_.push_back(shop);
  last_shop_[shop] = t;
  item_seen_[item] = category_seen_[category] = shop_seen_[shop] = true;
}

Status Generator::GenerateUser(uint64_t user, int64_t num_samples, bool is_test,
                               LineWriter* out) {
  Rng rng(Mix64(o_.seed ^ kUserStreamSalt ^ Mix64(user)));
  const SyntheticProfile profile = MakeProfile(o_.seed, user);
  ResetUser();
  interests_.clear();
  const int64_t k = rng.Between(o_.min_interests, o_.max_interests);
  while (static_cast<int64_t>(interests_.size()) < k) {
    uint32_t c = catalog_.SampleCategory(&rng);
    if (std::find(interests_.begin(), interests_.end(), c) == interests_.end()) {
      interests_.push_back(c);
    }
  }
  phase_left_ = static_cast<int>(rng.Between(o_.min_phase, o_.max_phase));
  for (int t = 0; t < o_.max_history; ++t) Step(&rng);

  std::string user_text;
  AppendNumber(user, &user_text);
  for (int64_t s = 0; s < num_samples; ++s) {
    if (s > 0) {
      for (int b = 0; b < o_.behaviours_between_samples; ++b) Step(&rng);
    }
    const int64_t t = static_cast<int64_t>(track_.size());
    const int64_t begin = t - rng.Between(o_.min_history, o_.max_history);

    // Target: a current interest, a history behaviour's category, or a
    // popular category; then a popular item of it.
    double u = rng.Uniform();
    uint32_t category;
    if (u < o_.target_current_rate) {
      category = interests_[rng.Below(interests_.size())];
    } else if (u < o_.target_current_rate + o_.target_history_rate) {
      category = track_.category(begin + rng.Below(t - begin));
    } else {
      category = catalog_.SampleCategory(&rng);
    }
    const uint32_t item = catalog_.SampleItem(category, &rng);
    const uint32_t shop = catalog_.shop(item);

    TargetRelation relation;
    const int64_t recent_begin = std::max<int64_t>(begin, t - o_.click.recent_window);
    relation.category_recent = last_category_[category] >= recent_begin;
    relation.category_older = !relation.category_recent && last_category_[category] >= begin;
    relation.shop_in_history = last_shop_[shop] >= begin;
    const int hour = static_cast<int>(rng.Below(24));
    const double p = click_.Probability(relation, catalog_.quality(item), profile, category, hour);
    const bool label = rng.Uniform() < p;
    item_seen_[item] = category_seen_[category] = shop_seen_[shop] = true;

    line_.clear();
    line_.push_back(label ? '1' : '0');
    line_.push_back('\t');
    line_.append(user_text);
    const uint32_t target[kNumColumns] = {item, category, shop};
    for (uint32_t id : target) {
      line_.push_back('\t');
      AppendNumber(id, &line_);
    }
    for (int c : {kItemColumn, kCategoryColumn, kShopColumn}) {
      line_.push_back('\t');
      line_.append(track_.Window(c, begin, t));
    }
    line_.push_back('\t');
    if (profile.age_bucket != kMissingAge) line_.append(kAgeBuckets[profile.age_bucket]);
    line_.append(profile.gender == 0 ? "\tf\t" : "\tm\t");
    AppendNumber(hour, &line_);
    line_.push_back('\n');
    RETURN_IF_ERROR(out->Append(line_));

    counts_.history_behaviours += t - begin;
    if (is_test) {
      ++counts_.test_samples;
      counts_.test_positives += label;
      if (o_.compute_oracle_auc) test_scores_.emplace_back(static_cast<float>(p), label);
    } else {
      ++counts_.train_samples;
      counts_.train_positives += label;
    }
  }
  return Status::OK();
}

void Generator::Finish(DatasetSummary* summary) {
  summary->train_samples = counts_.train_samples;
  summary->test_samples = counts_.test_samples;
  summary->train_positives = counts_.train_positives;
  summary->test_positives = counts_.test_positives;
  summary->history_behaviours = counts_.history_behaviours;
  summary->items = std::count(item_seen_.begin(), item_seen_.end(), true);
  summary->categories = std::count(category_seen_.begin(), category_seen_.end(), true);
  summary->shops = std::count(shop_seen_.begin(), shop_seen_.end(), true);
  if (o_.compute_oracle_auc) summary->oracle_test_auc = Auc(&test_scores_);
}

// Samples of the index-th of n users on one side: total / n, the first
// total % n users one more.
int64_t SamplesForUser(int64_t index, int64_t n, int64_t total) {
  return total / n + (index < total % n ? 1 : 0);
}

}  // namespace

std::string SyntheticHeader() {
  return "#dips-v1\tlabel\tuser\titem\tcategory\tshop\titem_history\tcategory_history"
         "\tshop_history\tprofile:age\tprofile:gender\tcontext:hour\n";
}

StatusOr<DatasetSummary> GenerateSynthetic(const SyntheticOptions& options) {
  RETURN_IF_ERROR(Validate(options));
  const auto start = std::chrono::steady_clock::now();

  // The split depends on the user id only; count each side first so the
  // sample totals can be spread exactly.
  std::vector<bool> is_test(options.users);
  int64_t num_test = 0;
  for (int64_t u = 0; u < options.users; ++u) {
    std::string id = std::to_string(u);
    is_test[u] = IsTestUser(id, options.seed, options.test_user_fraction);
    num_test += is_test[u];
  }
  const int64_t num_train = options.users - num_test;
  if ((num_train == 0 && options.train_samples > 0) ||
      (num_test == 0 && options.test_samples > 0)) {
    return InvalidArgumentError("synthetic: a side with samples has no users (train users " +
                                std::to_string(num_train) + ", test users " +
                                std::to_string(num_test) + "); change users or test_user_fraction");
  }

  ASSIGN_OR_RETURN(std::unique_ptr<LineWriter> train,
                   LineWriter::Open(options.train_path, options.writer));
  ASSIGN_OR_RETURN(std::unique_ptr<LineWriter> test,
                   LineWriter::Open(options.test_path, options.writer));
  const std::string header = SyntheticHeader();
  RETURN_IF_ERROR(train->Append(header));
  RETURN_IF_ERROR(test->Append(header));

  DatasetSummary summary;
  summary.source = "synthetic";
  summary.train_path = options.train_path;
  summary.test_path = options.test_path;
  Generator generator(options);
  int64_t train_index = 0, test_index = 0;
  for (int64_t u = 0; u < options.users; ++u) {
    int64_t n = is_test[u] ? SamplesForUser(test_index++, num_test, options.test_samples)
                           : SamplesForUser(train_index++, num_train, options.train_samples);
    if (n == 0) continue;
    RETURN_IF_ERROR(generator.GenerateUser(static_cast<uint64_t>(u), n, is_test[u],
                                           is_test[u] ? test.get() : train.get()));
    ++(is_test[u] ? summary.test_users : summary.train_users);
  }
  RETURN_IF_ERROR(train->Close());
  RETURN_IF_ERROR(test->Close());
  generator.Finish(&summary);
  summary.users = summary.train_users + summary.test_users;
  summary.bytes_written = train->bytes_written() + test->bytes_written();
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

}  // namespace dips
