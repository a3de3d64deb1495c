#include "tools/amazon.h"

#include <algorithm>
#include <chrono>
#include <unordered_map>
#include <vector>

#include <glog/logging.h>

#include "tools/dien_lines.h"
#include "tools/input_lines.h"
#include "tools/literal_parser.h"
#include "tools/random.h"
#include "tools/text_util.h"
#include "tools/user_split.h"

namespace dips {
namespace {

constexpr uint64_t kNegativeSalt = 0x4e45'4741'5449'5645ULL;

struct Review {
  uint32_t user;
  uint32_t item;
  int64_t time;
};

// The string under `key`, sanitised; empty when missing or not a string.
std::string StringField(const LiteralValue& record, std::string_view key) {
  const LiteralValue* v = record.Find(key);
  return v != nullptr && v->is_string() ? SanitizeId(v->string_value()) : std::string();
}

Status ReadReviews(const AmazonOptions& o, IdTable* users, IdTable* items,
                   std::vector<Review>* reviews, DatasetSummary* summary) {
  return ForEachInputRecord(
      o.reviews_path, o.max_line_bytes,
      [&](std::string_view line, int64_t number) {
        StatusOr<LiteralValue> record = ParseLiteral(line);
        if (!record.ok()) {
          NoteMalformedInput(o.reviews_path, number, "record", record.status().message(),
                             &summary->records_skipped);
          return Status::OK();
        }
        std::string user = StringField(*record, "reviewerID");
        std::string item = StringField(*record, "asin");
        const LiteralValue* time = record->Find("unixReviewTime");
        if (user.empty() || item.empty() || time == nullptr || !time->is_int()) {
          NoteMalformedInput(o.reviews_path, number, "record",
                             "needs reviewerID, asin, integer unixReviewTime",
                             &summary->records_skipped);
          return Status::OK();
        }
        reviews->push_back(Review{users->Intern(user), items->Intern(item), time->int_value()});
        ++summary->records_read;
        return Status::OK();
      },
      &summary->records_skipped, &summary->input_truncated);
}

// Category (categories[0][-1]) of every reviewed item that has metadata.
Status ReadMeta(const AmazonOptions& o, const IdTable& items,
                std::unordered_map<uint32_t, std::string>* category, DatasetSummary* summary) {
  return ForEachInputRecord(
      o.meta_path, o.max_line_bytes,
      [&](std::string_view line, int64_t number) {
        StatusOr<LiteralValue> record = ParseLiteral(line);
        if (!record.ok() || !record->is_dict()) {
          NoteMalformedInput(o.meta_path, number, "record",
                             record.ok() ? "not a dict" : record.status().message(),
                             &summary->meta_records_skipped);
          return Status::OK();
        }
        std::string asin = StringField(*record, "asin");
        if (asin.empty()) {
          NoteMalformedInput(o.meta_path, number, "record", "no asin",
                             &summary->meta_records_skipped);
          return Status::OK();
        }
        ++summary->meta_records_read;
        int64_t item = items.Find(asin);
        if (item < 0) return Status::OK();  // never reviewed: not needed
        const LiteralValue* paths = record->Find("categories");
        if (paths == nullptr || !paths->is_list() || paths->list().empty()) return Status::OK();
        const LiteralValue& first = paths->list().front();
        if (!first.is_list() || first.list().empty() || !first.list().back().is_string()) {
          return Status::OK();
        }
        std::string leaf = SanitizeId(first.list().back().string_value());
        // The first record of an asin wins, as in the DIEN reference.
        if (!leaf.empty()) category->emplace(static_cast<uint32_t>(item), std::move(leaf));
        return Status::OK();
      },
      &summary->meta_records_skipped, &summary->input_truncated);
}

Status Validate(const AmazonOptions& o) {
  if (o.reviews_path.empty() || o.meta_path.empty()) {
    return InvalidArgumentError("amazon: reviews_path and meta_path are required");
  }
  return ValidateDienOutputOptions("amazon", o);
}

}  // namespace

StatusOr<DatasetSummary> ConvertAmazon(const AmazonOptions& o) {
  RETURN_IF_ERROR(Validate(o));
  const auto start = std::chrono::steady_clock::now();
  DatasetSummary summary;
  summary.source = "amazon";
  summary.train_path = o.train_path;
  summary.test_path = o.test_path;

  IdTable users, items, categories;
  std::vector<Review> reviews;
  RETURN_IF_ERROR(ReadReviews(o, &users, &items, &reviews, &summary));
  if (items.size() < 2) {
    return FailedPreconditionError("amazon: " + o.reviews_path + " has " +
                                   std::to_string(items.size()) +
                                   " distinct reviewed items; negatives need at least 2");
  }
  std::unordered_map<uint32_t, std::string> meta_category;
  RETURN_IF_ERROR(ReadMeta(o, items, &meta_category, &summary));
  std::vector<uint32_t> item_category(items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    auto it = meta_category.find(i);
    if (it == meta_category.end()) ++summary.items_without_category;
    item_category[i] = categories.Intern(it != meta_category.end() ? it->second
                                                                   : o.default_category);
  }

  // The pool is fixed before sorting: file order, one entry per review (or
  // per distinct item), so the draws do not depend on the sort.
  std::vector<uint32_t> pool;
  if (o.negative_pool == NegativePool::kReviewRecords) {
    for (const Review& r : reviews) pool.push_back(r.item);
  } else {
    for (uint32_t i = 0; i < items.size(); ++i) pool.push_back(i);
  }
  std::stable_sort(reviews.begin(), reviews.end(), [](const Review& a, const Review& b) {
    return a.user != b.user ? a.user < b.user : a.time < b.time;
  });

  ASSIGN_OR_RETURN(std::unique_ptr<DienSplitFiles> files,
                   DienSplitFiles::Open(o.train_path, o.test_path, o.writer, items.size(),
                                        categories.size()));
  Rng rng(Mix64(o.seed ^ kNegativeSalt));
  std::vector<Behaviour> behaviours;
  std::string line;
  for (size_t begin = 0; begin < reviews.size();) {
    size_t end = begin;
    while (end < reviews.size() && reviews[end].user == reviews[begin].user) ++end;
    if (end - begin < 2) {
      ++summary.users_dropped;
      begin = end;
      continue;
    }
    const std::string& user = users.name(reviews[begin].user);
    behaviours.clear();
    for (size_t r = begin; r < end; ++r) {
      behaviours.push_back(Behaviour{reviews[r].item, item_category[reviews[r].item]});
    }
    const Behaviour target = behaviours.back();
    // Terminates: the pool holds at least two distinct items (checked above).
    uint32_t negative_item;
    do {
      negative_item = pool[rng.Below(pool.size())];
    } while (negative_item == target.item);
    const Behaviour negative{negative_item, item_category[negative_item]};

    const size_t t = behaviours.size() - 1;
    const size_t h = std::min<size_t>(t, static_cast<size_t>(o.max_history));
    const Behaviour* history = &behaviours[t - h];
    line.clear();
    AppendDienLine(1, user, target, history, h, items, categories, &line);
    AppendDienLine(0, user, negative, history, h, items, categories, &line);
    const bool is_test = IsTestUser(user, o.seed, o.test_fraction);
    RETURN_IF_ERROR(files->file(is_test)->Append(line));
    for (size_t j = t - h; j < behaviours.size(); ++j) files->MarkUsed(behaviours[j]);
    files->MarkUsed(negative);
    summary.history_behaviours += 2 * static_cast<int64_t>(h);
    (is_test ? summary.test_samples : summary.train_samples) += 2;
    (is_test ? summary.test_positives : summary.train_positives) += 1;
    ++(is_test ? summary.test_users : summary.train_users);
    begin = end;
  }
  RETURN_IF_ERROR(files->Close(&summary));
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (summary.records_skipped > 0 || summary.meta_records_skipped > 0 || summary.input_truncated) {
    LOG(WARNING) << "amazon: skipped " << summary.records_skipped << " malformed review records and "
                 << summary.meta_records_skipped << " malformed meta records"
                 << (summary.input_truncated ? "; an input was truncated (complete records kept)"
                                             : "");
  }
  return summary;
}

}  // namespace dips
