#include "worker/data/log_parser.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "common/feature_key.h"

namespace dips {
namespace {

constexpr char kHistorySeparator = '\x02';
constexpr std::string_view kHeaderPrefix = "#dips-";
constexpr std::string_view kHeaderV1 = "#dips-v1";

// Number of DIEN columns, and the two a shop adds (shop, shop_history).
constexpr int kBaseColumns = 6;
constexpr int kShopColumns = 2;

constexpr uint64_t kHighBits = 0x8080808080808080ULL;
constexpr uint64_t kLowBits = 0x0101010101010101ULL;

// Non-zero iff some byte of w is zero (exact as a whole-word test).
inline uint64_t HasZeroByte(uint64_t w) { return (w - kLowBits) & ~w & kHighBits; }

// Checks the byte-level rules: no NUL, no '\r', well-formed UTF-8 (shortest
// form, no surrogates, at most U+10FFFF). Eight ASCII bytes at a time on the
// fast path, since almost every log line is pure ASCII.
LineError CheckBytes(std::string_view line, std::string* detail) {
  const auto* p = reinterpret_cast<const unsigned char*>(line.data());
  const size_t n = line.size();
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if (((w & kHighBits) | HasZeroByte(w) | HasZeroByte(w ^ (kLowBits * '\r'))) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = p[i];
    if (c < 0x80) {
      if (c == 0) {
        *detail = "NUL byte at offset " + std::to_string(i);
        return LineError::kNulByte;
      }
      if (c == '\r') {
        *detail = i + 1 == n ? "line ends in \\r (CRLF line endings?)"
                             : "\\r at offset " + std::to_string(i);
        return LineError::kCarriageReturn;
      }
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp, min_cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min_cp = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min_cp = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min_cp = 0x10000;
    } else {
      len = 0, cp = 0, min_cp = 0;
    }
    bool ok = len != 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    ok = ok && cp >= min_cp && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!ok) {
      *detail = "invalid UTF-8 at offset " + std::to_string(i);
      return LineError::kInvalidUtf8;
    }
    i += len;
  }
  return LineError::kOk;
}

// Accepts "0" and "1", optionally followed by '.' and one or more zeros.
bool ParseLabel(std::string_view s, float* label) {
  if (s.empty() || (s[0] != '0' && s[0] != '1')) return false;
  if (s.size() > 1) {
    if (s[1] != '.' || s.size() == 2) return false;
    for (size_t i = 2; i < s.size(); ++i) {
      if (s[i] != '0') return false;
    }
  }
  *label = s[0] == '1' ? 1.0f : 0.0f;
  return true;
}

size_t CountHistory(std::string_view column) {
  if (column.empty()) return 0;
  return 1 + static_cast<size_t>(std::count(column.begin(), column.end(), kHistorySeparator));
}

bool IsValidFieldName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == ':' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void SplitTabs(std::string_view s, std::vector<std::string_view>* out) {
  out->clear();
  size_t start = 0;
  for (;;) {
    const size_t tab = s.find('\t', start);
    if (tab == std::string_view::npos) {
      out->push_back(s.substr(start));
      return;
    }
    out->push_back(s.substr(start, tab - start));
    start = tab + 1;
  }
}

}  // namespace

const char* LineErrorName(LineError error) {
  switch (error) {
    case LineError::kOk: return "ok";
    case LineError::kTooLong: return "too_long";
    case LineError::kNulByte: return "nul_byte";
    case LineError::kInvalidUtf8: return "invalid_utf8";
    case LineError::kCarriageReturn: return "carriage_return";
    case LineError::kColumnCount: return "column_count";
    case LineError::kBadLabel: return "bad_label";
    case LineError::kEmptyId: return "empty_id";
    case LineError::kHistoryMismatch: return "history_mismatch";
  }
  return "unknown";
}

bool IsHeaderLine(std::string_view line) {
  return line.substr(0, kHeaderPrefix.size()) == kHeaderPrefix;
}

StatusOr<LogSchema> ParseHeader(std::string_view line) {
  if (line.find('\r') != std::string_view::npos) {
    return InvalidArgumentError("DIPS header contains \\r (CRLF line endings?)");
  }
  std::vector<std::string_view> tokens;
  SplitTabs(line, &tokens);
  if (tokens[0] != kHeaderV1) {
    return InvalidArgumentError("unsupported log format '" + std::string(tokens[0]) +
                                "' (this build reads " + std::string(kHeaderV1) + ")");
  }
  static const char* const kFixed[] = {"label", "user", "item", "category"};
  size_t i = 1;
  for (const char* name : kFixed) {
    if (i >= tokens.size() || tokens[i] != name) {
      return InvalidArgumentError(std::string("DIPS header: column ") + std::to_string(i) +
                                  " must be '" + name + "'");
    }
    ++i;
  }
  LogSchema schema;
  schema.has_shop = i < tokens.size() && tokens[i] == "shop";
  if (schema.has_shop) ++i;
  for (const char* name : {"item_history", "category_history"}) {
    if (i >= tokens.size() || tokens[i] != name) {
      return InvalidArgumentError(std::string("DIPS header: column ") + std::to_string(i) +
                                  " must be '" + name + "'");
    }
    ++i;
  }
  const bool has_shop_history = i < tokens.size() && tokens[i] == "shop_history";
  if (has_shop_history != schema.has_shop) {
    return InvalidArgumentError("DIPS header: 'shop' and 'shop_history' must appear together");
  }
  if (has_shop_history) ++i;
  static const std::set<std::string_view> kReserved = {
      "label", "user", "item", "category", "shop",
      "item_history", "category_history", "shop_history"};
  std::set<std::string_view> seen;
  for (; i < tokens.size(); ++i) {
    const std::string_view name = tokens[i];
    if (!IsValidFieldName(name) || kReserved.count(name) != 0 || !seen.insert(name).second) {
      return InvalidArgumentError("DIPS header: bad field name '" + std::string(name) +
                                  "' (letters, digits, _ : . - ; unique; not a fixed column)");
    }
    schema.extra_fields.emplace_back(name);
  }
  return schema;
}

LogParser::LogParser(const LogSchema& schema, int max_history)
    : schema_(schema),
      max_history_(max_history),
      num_columns_(kBaseColumns + (schema.has_shop ? kShopColumns : 0) +
                   schema.num_extra_fields()),
      user_seed_(FieldSeed(kUserField)),
      item_seed_(FieldSeed(kItemField)),
      category_seed_(FieldSeed(kCategoryField)),
      shop_seed_(FieldSeed(kShopField)) {
  CHECK_GE(max_history, 1);
  for (const std::string& f : schema.extra_fields) extra_seeds_.push_back(FieldSeed(f));
  columns_.reserve(num_columns_ + 1);
}

LineError LogParser::ParseHistory(std::string_view column, size_t count, uint64_t seed,
                                  std::vector<uint64_t>* out, std::string* detail) const {
  out->clear();
  const size_t keep = std::min(count, static_cast<size_t>(max_history_));
  const size_t skip = count - keep;
  // The count is known: one allocation, not a doubling series per field.
  out->reserve(keep);
  size_t start = 0;
  for (size_t e = 0; e < count; ++e) {
    size_t end = column.find(kHistorySeparator, start);
    if (end == std::string_view::npos) end = column.size();
    if (end == start) {
      *detail = "empty id at history position " + std::to_string(e);
      return LineError::kEmptyId;
    }
    if (e >= skip) out->push_back(FeatureKeyWithSeed(seed, column.substr(start, end - start)));
    start = end + 1;
  }
  return LineError::kOk;
}

LineError LogParser::Parse(std::string_view line, Sample* sample, std::string* detail) {
  LineError err = CheckBytes(line, detail);
  if (err != LineError::kOk) return err;

  SplitTabs(line, &columns_);
  if (static_cast<int>(columns_.size()) != num_columns_) {
    *detail = "expected " + std::to_string(num_columns_) + " columns, got " +
              std::to_string(columns_.size());
    return LineError::kColumnCount;
  }
  if (!ParseLabel(columns_[0], &sample->label)) {
    *detail = "label '" + std::string(columns_[0].substr(0, 32)) + "' is not 0 or 1";
    return LineError::kBadLabel;
  }
  const int shop = schema_.has_shop ? 1 : 0;
  static const char* const kNames[] = {"label", "user", "item", "category", "shop"};
  for (int c = 1; c <= 3 + shop; ++c) {
    if (columns_[c].empty()) {
      *detail = std::string("empty ") + kNames[c] + " id";
      return LineError::kEmptyId;
    }
  }
  const std::string_view item_hist = columns_[4 + shop];
  const std::string_view cat_hist = columns_[5 + shop];
  const size_t n_items = CountHistory(item_hist);
  const size_t n_cats = CountHistory(cat_hist);
  const size_t n_shops = shop != 0 ? CountHistory(columns_[6 + shop]) : n_items;
  if (n_items != n_cats || n_items != n_shops) {
    *detail = "history lengths differ: item " + std::to_string(n_items) + ", category " +
              std::to_string(n_cats) + (shop != 0 ? ", shop " + std::to_string(n_shops) : "");
    return LineError::kHistoryMismatch;
  }

  sample->user_key = FeatureKeyWithSeed(user_seed_, columns_[1]);
  sample->item_key = FeatureKeyWithSeed(item_seed_, columns_[2]);
  sample->category_key = FeatureKeyWithSeed(category_seed_, columns_[3]);
  sample->shop_key = shop != 0 ? FeatureKeyWithSeed(shop_seed_, columns_[4]) : 0;
  err = ParseHistory(item_hist, n_items, item_seed_, &sample->item_history, detail);
  if (err == LineError::kOk) {
    err = ParseHistory(cat_hist, n_cats, category_seed_, &sample->category_history, detail);
  }
  if (err != LineError::kOk) return err;
  if (shop != 0) {
    err = ParseHistory(columns_[6 + shop], n_shops, shop_seed_, &sample->shop_history, detail);
    if (err != LineError::kOk) return err;
  } else {
    sample->shop_history.clear();
  }

  const int first_extra = kBaseColumns + (shop != 0 ? kShopColumns : 0);
  sample->extra_keys.resize(extra_seeds_.size());
  for (size_t f = 0; f < extra_seeds_.size(); ++f) {
    // An empty value is the field's own "missing" id, hashed like any other.
    sample->extra_keys[f] = FeatureKeyWithSeed(extra_seeds_[f], columns_[first_extra + f]);
  }
  return LineError::kOk;
}

}  // namespace dips
