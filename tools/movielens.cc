#include "tools/movielens.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <unordered_map>
#include <vector>

#include <glog/logging.h>

#include "tools/csv.h"
#include "tools/dien_lines.h"
#include "tools/input_lines.h"
#include "tools/text_util.h"
#include "tools/user_split.h"

namespace dips {
namespace {

struct Rating {
  uint32_t user;
  uint32_t item;
  float rating;
  int64_t timestamp;
};

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(*out);
}

bool ParseInt64(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoll(s.c_str(), &end, 10);
  return errno == 0 && end == s.c_str() + s.size();
}

// movieId -> first listed genre.
Status ReadMovies(const MovieLensOptions& o, std::unordered_map<std::string, std::string>* genre,
                  DatasetSummary* summary) {
  std::vector<std::string> fields;
  return ForEachInputRecord(
      o.movies_path, o.max_line_bytes,
      [&](std::string_view line, int64_t number) {
        if (number == 1 && line.rfind("movieId", 0) == 0) return Status::OK();  // header
        if (!SplitCsvLine(line, &fields) || fields.size() != 3 || fields[0].empty()) {
          NoteMalformedInput(o.movies_path, number, "line", "expected movieId,title,genres",
                             &summary->meta_records_skipped);
          return Status::OK();
        }
        std::string first = fields[2].substr(0, fields[2].find('|'));
        (*genre)[SanitizeId(fields[0])] = SanitizeId(first);
        ++summary->meta_records_read;
        return Status::OK();
      },
      &summary->meta_records_skipped, &summary->input_truncated);
}

Status ReadRatings(const MovieLensOptions& o, IdTable* users, IdTable* items,
                   std::vector<Rating>* ratings, DatasetSummary* summary) {
  std::vector<std::string> fields;
  return ForEachInputRecord(
      o.ratings_path, o.max_line_bytes,
      [&](std::string_view line, int64_t number) {
        if (number == 1 && line.rfind("userId", 0) == 0) return Status::OK();  // header
        double rating;
        int64_t timestamp;
        if (!SplitCsvLine(line, &fields) || fields.size() != 4) {
          NoteMalformedInput(o.ratings_path, number, "line",
                             "expected userId,movieId,rating,timestamp",
                             &summary->records_skipped);
        } else if (fields[0].empty() || fields[1].empty()) {
          NoteMalformedInput(o.ratings_path, number, "line", "empty id",
                             &summary->records_skipped);
        } else if (!ParseDouble(fields[2], &rating) || !ParseInt64(fields[3], &timestamp)) {
          NoteMalformedInput(o.ratings_path, number, "line", "bad rating or timestamp",
                             &summary->records_skipped);
        } else {
          ratings->push_back(Rating{users->Intern(SanitizeId(fields[0])),
                                    items->Intern(SanitizeId(fields[1])),
                                    static_cast<float>(rating), timestamp});
          ++summary->records_read;
        }
        return Status::OK();
      },
      &summary->records_skipped, &summary->input_truncated);
}

Status Validate(const MovieLensOptions& o) {
  if (o.ratings_path.empty() || o.movies_path.empty()) {
    return InvalidArgumentError("movielens: ratings_path and movies_path are required");
  }
  return ValidateDienOutputOptions("movielens", o);
}

}  // namespace

StatusOr<DatasetSummary> ConvertMovieLens(const MovieLensOptions& o) {
  RETURN_IF_ERROR(Validate(o));
  const auto start = std::chrono::steady_clock::now();
  DatasetSummary summary;
  summary.source = "movielens";
  summary.train_path = o.train_path;
  summary.test_path = o.test_path;

  std::unordered_map<std::string, std::string> genre;
  RETURN_IF_ERROR(ReadMovies(o, &genre, &summary));
  IdTable users, items, categories;
  std::vector<Rating> ratings;
  RETURN_IF_ERROR(ReadRatings(o, &users, &items, &ratings, &summary));

  std::vector<uint32_t> item_category(items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    auto it = genre.find(items.name(i));
    bool known = it != genre.end() && !it->second.empty();
    if (!known) ++summary.items_without_category;
    item_category[i] = categories.Intern(known ? it->second : o.default_category);
  }

  // Group by user (in order of first appearance), then time; stable, so
  // equal timestamps keep file order.
  std::stable_sort(ratings.begin(), ratings.end(), [](const Rating& a, const Rating& b) {
    return a.user != b.user ? a.user < b.user : a.timestamp < b.timestamp;
  });

  ASSIGN_OR_RETURN(std::unique_ptr<DienSplitFiles> files,
                   DienSplitFiles::Open(o.train_path, o.test_path, o.writer, items.size(),
                                        categories.size()));
  std::vector<Behaviour> behaviours;
  std::string line;
  for (size_t begin = 0; begin < ratings.size();) {
    size_t end = begin;
    while (end < ratings.size() && ratings[end].user == ratings[begin].user) ++end;
    const std::string& user = users.name(ratings[begin].user);
    if (end - begin < 2) {  // no rating with an earlier one: no sample
      ++summary.users_dropped;
      begin = end;
      continue;
    }
    const bool is_test = IsTestUser(user, o.seed, o.test_fraction);
    LineWriter* out = files->file(is_test);
    behaviours.clear();
    for (size_t r = begin; r < end; ++r) {
      behaviours.push_back(Behaviour{ratings[r].item, item_category[ratings[r].item]});
      files->MarkUsed(behaviours.back());
    }
    for (size_t k = 1; k < behaviours.size(); ++k) {
      const size_t h = std::min<size_t>(k, static_cast<size_t>(o.max_history));
      const int label = ratings[begin + k].rating >= o.positive_threshold ? 1 : 0;
      line.clear();
      AppendDienLine(label, user, behaviours[k], &behaviours[k - h], h, items, categories, &line);
      RETURN_IF_ERROR(out->Append(line));
      summary.history_behaviours += static_cast<int64_t>(h);
      (is_test ? summary.test_samples : summary.train_samples) += 1;
      (is_test ? summary.test_positives : summary.train_positives) += label;
    }
    ++(is_test ? summary.test_users : summary.train_users);
    begin = end;
  }
  RETURN_IF_ERROR(files->Close(&summary));
  summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (summary.records_skipped > 0 || summary.meta_records_skipped > 0) {
    LOG(WARNING) << "movielens: skipped " << summary.records_skipped << " malformed rating lines and "
                 << summary.meta_records_skipped << " malformed movie lines";
  }
  return summary;
}

}  // namespace dips
