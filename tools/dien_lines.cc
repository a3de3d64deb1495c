#include "tools/dien_lines.h"

#include <algorithm>
#include <utility>

namespace dips {

uint32_t IdTable::Intern(std::string_view id) {
  auto [it, inserted] = index_.try_emplace(std::string(id), static_cast<uint32_t>(names_.size()));
  if (inserted) names_.push_back(it->first);
  return it->second;
}

int64_t IdTable::Find(std::string_view id) const {
  auto it = index_.find(std::string(id));
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

void AppendDienLine(int label, std::string_view user, const Behaviour& target,
                    const Behaviour* history, size_t history_size, const IdTable& items,
                    const IdTable& categories, std::string* out) {
  out->push_back(label != 0 ? '1' : '0');
  out->push_back('\t');
  out->append(user);
  out->push_back('\t');
  out->append(items.name(target.item));
  out->push_back('\t');
  out->append(categories.name(target.category));
  out->push_back('\t');
  for (size_t j = 0; j < history_size; ++j) {
    if (j > 0) out->push_back('\x02');
    out->append(items.name(history[j].item));
  }
  out->push_back('\t');
  for (size_t j = 0; j < history_size; ++j) {
    if (j > 0) out->push_back('\x02');
    out->append(categories.name(history[j].category));
  }
  out->push_back('\n');
}

StatusOr<std::unique_ptr<DienSplitFiles>> DienSplitFiles::Open(const std::string& train_path,
                                                                const std::string& test_path,
                                                                const LineWriterOptions& writer,
                                                                size_t items, size_t categories) {
  ASSIGN_OR_RETURN(std::unique_ptr<LineWriter> train, LineWriter::Open(train_path, writer));
  ASSIGN_OR_RETURN(std::unique_ptr<LineWriter> test, LineWriter::Open(test_path, writer));
  return std::unique_ptr<DienSplitFiles>(
      new DienSplitFiles(std::move(train), std::move(test), items, categories));
}

Status DienSplitFiles::Close(DatasetSummary* summary) {
  RETURN_IF_ERROR(train_->Close());
  RETURN_IF_ERROR(test_->Close());
  summary->users = summary->train_users + summary->test_users;
  summary->items = std::count(item_used_.begin(), item_used_.end(), true);
  summary->categories = std::count(category_used_.begin(), category_used_.end(), true);
  summary->bytes_written = train_->bytes_written() + test_->bytes_written();
  return Status::OK();
}

}  // namespace dips
