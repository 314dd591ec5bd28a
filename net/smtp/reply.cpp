#include "net/smtp/reply.hpp"

namespace jobq::net::smtp {

std::string Reply::text() const {
    std::string out = std::to_string(code);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        out += i == 0 ? " " : "; ";
        out += lines[i];
    }
    return out;
}

bool ReplyParser::feed(std::string_view bytes) {
    if (!error_.empty()) return false;
    buffer_.append(bytes);
    std::size_t start = 0;
    for (std::size_t end; (end = buffer_.find('\n', start)) != std::string::npos; start = end + 1) {
        std::string_view line(buffer_.data() + start, end - start);
        if (line.ends_with('\r')) line.remove_suffix(1);  // a bare LF is tolerated from servers
        if (!take_line(line)) return false;
    }
    buffer_.erase(0, start);
    if (buffer_.size() > max_line) {
        error_ = "reply line longer than " + std::to_string(max_line) + " bytes";
        return false;
    }
    return true;
}

bool ReplyParser::take_line(std::string_view line) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (line.size() < 3 || !digit(line[0]) || !digit(line[1]) || !digit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        error_ = "malformed reply line: " + std::string(line.substr(0, 64));
        return false;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599) {
        error_ = "reply code out of range: " + std::to_string(code);
        return false;
    }
    if (!partial_) partial_ = Reply{code, {}};
    if (partial_->code != code) {
        error_ = "reply lines with different codes";
        return false;
    }
    if (partial_->lines.size() == max_lines) {
        error_ = "reply with more than " + std::to_string(max_lines) + " lines";
        return false;
    }
    partial_->lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
    const bool last = line.size() == 3 || line[3] == ' ';
    if (last) {
        ready_.push_back(std::move(*partial_));
        partial_.reset();
    }
    return true;
}

std::optional<Reply> ReplyParser::next() {
    if (ready_.empty()) return std::nullopt;
    Reply r = std::move(ready_.front());
    ready_.pop_front();
    return r;
}

}  // namespace jobq::net::smtp
