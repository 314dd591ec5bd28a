// The client commands' building blocks: the command line, the server URL and API errors,
// what they print, and the program `jobq work` runs (real processes through /bin/sh).
#include "app/cli/api_client.hpp"
#include "app/cli/arguments.hpp"
#include "app/cli/output.hpp"
#include "app/cli/program.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include <signal.h>
#include <sys/stat.h>

namespace cli = jobq::app::cli;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Words = std::vector<std::string>;

namespace {

// --- parse_arguments ---

cli::ArgumentSpec spec(bool takes_program = false) {
    cli::ArgumentSpec made;
    made.options = {"queue", "priority", "header"};
    made.repeatable = {"header"};
    made.flags = {"json", "wait"};
    made.takes_program = takes_program;
    return made;
}

cli::Arguments accepted(const Words& words, const cli::ArgumentSpec& given = spec()) {
    auto result = cli::parse_arguments(words, given);
    if (const auto* error = std::get_if<cli::UsageError>(&result)) BOOST_FAIL("refused: " << error->message);
    return std::get<cli::Arguments>(std::move(result));
}

// The usage error's message; the test fails when the words are accepted.
std::string refusal(const Words& words, const cli::ArgumentSpec& given = spec()) {
    const auto result = cli::parse_arguments(words, given);
    BOOST_TEST_REQUIRE(std::holds_alternative<cli::UsageError>(result));
    return std::get<cli::UsageError>(result).message;
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// --- parse_endpoint ---

cli::Endpoint endpoint(std::string_view url) {
    auto result = cli::parse_endpoint(url);
    if (const auto* problem = std::get_if<std::string>(&result)) BOOST_FAIL(url << " refused: " << *problem);
    return std::get<cli::Endpoint>(std::move(result));
}

// --- job_table ---

json::object job(std::int64_t id, std::string_view state, std::string_view queue, std::string_view type,
                 const json::value& last_error) {
    return json::object{{"id", id},         {"state", state},     {"queue", queue},
                        {"type", type},     {"priority", 0},      {"attempts", 1},
                        {"run_at", "2024-05-01T12:00:00Z"},       {"last_error", last_error}};
}

Words lines_of(const std::string& text) {
    Words lines;
    std::size_t begin = 0;
    while (begin < text.size()) {
        const auto end = text.find('\n', begin);
        if (end == std::string::npos) {
            lines.push_back(text.substr(begin));
            break;
        }
        lines.push_back(text.substr(begin, end - begin));
        begin = end + 1;
    }
    return lines;
}

// The terminal column the byte at `offset` is shown in: UTF-8 characters before it count once.
std::size_t display_column(const std::string& line, std::size_t offset) {
    const auto end = line.begin() + static_cast<std::ptrdiff_t>(std::min(offset, line.size()));
    return static_cast<std::size_t>(
        std::count_if(line.begin(), end, [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// --- find_program ---

// A fresh directory under the system's temporary one, removed with everything in it.
class TemporaryDirectory {
public:
    TemporaryDirectory() {
        std::string pattern = (std::filesystem::temp_directory_path() / "jobq-cli-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
        path_ = pattern;
    }
    ~TemporaryDirectory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TemporaryDirectory(const TemporaryDirectory&) = delete;
    TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A shell script at `file` with the permission bits `mode`; its path.
std::string write_script(const std::filesystem::path& file, mode_t mode) {
    {
        std::ofstream out(file);
        out << "#!/bin/sh\nexit 0\n";
        if (!out) throw std::runtime_error("cannot write " + file.string());
    }
    if (::chmod(file.c_str(), mode) != 0) throw std::runtime_error("cannot chmod " + file.string());
    return file.string();
}

// --- Program ---

const Words shell_environment = {"PATH=/usr/bin:/bin"};

std::unique_ptr<cli::Program> start_shell(asio::io_context& io, const std::string& script, std::string input = {},
                                          cli::ProgramLimits limits = {},
                                          const Words& environment = shell_environment) {
    auto started =
        cli::Program::start(io.get_executor(), {"/bin/sh", "-c", script}, environment, std::move(input), limits);
    if (const auto* error = std::get_if<std::string>(&started)) BOOST_FAIL("cannot start /bin/sh: " << *error);
    return std::move(std::get<std::unique_ptr<cli::Program>>(started));
}

struct Finished {
    cli::ProgramEnd end;
    Clock::duration took;  // from the start of finish() to its result
};

// Runs program.finish() on `io` for at most 10 s; nothing when it has not ended by then.
std::optional<Finished> run_to_end(asio::io_context& io, cli::Program& program) {
    std::optional<Finished> finished;
    std::exception_ptr failure;
    const auto started = Clock::now();
    asio::co_spawn(io, program.finish(), [&](std::exception_ptr error, cli::ProgramEnd end) {
        failure = error;
        finished = Finished{std::move(end), Clock::now() - started};
    });
    io.restart();
    io.run_for(10s);
    if (failure) std::rethrow_exception(failure);
    return finished;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_arguments)

BOOST_AUTO_TEST_CASE(positionals_and_options_in_both_spellings) {
    const auto args = accepted({"first", "--queue", "mail", "second", "--priority=5", "third", "--header=a=b"});
    const Words positional = {"first", "second", "third"};
    BOOST_TEST(args.positional == positional);
    BOOST_TEST(args.option("queue").value_or("<none>") == "mail");
    BOOST_TEST(args.option("priority").value_or("<none>") == "5");
    BOOST_TEST(args.option("header").value_or("<none>") == "a=b");  // split at the first '='
    BOOST_TEST(args.flags.empty());
    BOOST_TEST(args.program.empty());
    BOOST_TEST(!accepted({"x"}).option("queue").has_value());
}

BOOST_AUTO_TEST_CASE(flags_are_switches_that_take_no_value) {
    const auto args = accepted({"--json", "x"});
    BOOST_TEST(args.flag("json"));
    BOOST_TEST(!args.flag("wait"));
    const Words positional = {"x"};
    BOOST_TEST(args.positional == positional);  // "x" is not taken as --json's value
    BOOST_TEST(contains(refusal({"--json=yes"}), "--json"));
    BOOST_TEST(refusal({"--json=yes"}) == "--json takes no value");
}

BOOST_AUTO_TEST_CASE(an_unknown_option_is_refused_by_name) {
    BOOST_TEST(contains(refusal({"--colour", "red"}), "--colour"));
    BOOST_TEST(refusal({"--colour=red"}) == "unknown option '--colour'");
    BOOST_TEST(contains(refusal({"a", "--queue", "q", "--nope"}), "--nope"));
}

BOOST_AUTO_TEST_CASE(an_option_without_its_value_is_refused) {
    const auto message = refusal({"first", "--queue"});
    BOOST_TEST(contains(message, "--queue"), message);
    BOOST_TEST(contains(message, "value"), message);
}

BOOST_AUTO_TEST_CASE(an_option_given_twice_is_refused_unless_repeatable) {
    const auto message = refusal({"--queue", "a", "--queue=b"});
    BOOST_TEST(contains(message, "--queue"), message);
    BOOST_TEST(contains(message, "twice"), message);

    const auto args = accepted({"--header", "A: 1", "--header=B: 2", "x", "--header", "C: 3"});
    const Words headers = {"A: 1", "B: 2", "C: 3"};
    BOOST_TEST_REQUIRE(args.options.contains("header"));
    BOOST_TEST(args.options.at("header") == headers);  // in the order given
    BOOST_TEST(args.option("header").value_or("<none>") == "C: 3");
}

BOOST_AUTO_TEST_CASE(words_after_a_double_dash_are_kept_verbatim) {
    const auto args = accepted({"--queue", "q", "--", "worker", "--json", "--queue", "-x", "-", "--"}, spec(true));
    const Words program = {"worker", "--json", "--queue", "-x", "-", "--"};
    BOOST_TEST(args.program == program);
    BOOST_TEST(!args.flag("json"));
    BOOST_TEST(args.option("queue").value_or("<none>") == "q");
    BOOST_TEST(args.positional.empty());
    BOOST_TEST(accepted({"--"}, spec(true)).program.empty());
}

BOOST_AUTO_TEST_CASE(a_double_dash_is_refused_where_no_program_is_taken) {
    const auto message = refusal({"a", "--", "b"}, spec(false));
    BOOST_TEST(contains(message, "'--'"), message);
}

BOOST_AUTO_TEST_CASE(a_lone_dash_is_a_positional_and_a_short_option_is_unknown) {
    const Words dash = {"-"};
    BOOST_TEST(accepted({"-"}).positional == dash);
    BOOST_TEST(refusal({"-x"}) == "unknown option '-x'");
    BOOST_TEST(contains(refusal({"a", "-json"}), "-json"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_endpoint)

BOOST_AUTO_TEST_CASE(the_scheme_sets_the_default_port) {
    const auto plain = endpoint("http://jobq.example");
    BOOST_TEST(!plain.origin.https);
    BOOST_TEST(plain.origin.host == "jobq.example");
    BOOST_TEST(plain.origin.port == 80);
    BOOST_TEST(plain.base_path == "");
    BOOST_TEST(plain.token == "");

    const auto secure = endpoint("https://jobq.example");
    BOOST_TEST(secure.origin.https);
    BOOST_TEST(secure.origin.port == 443);
}

BOOST_AUTO_TEST_CASE(an_explicit_port_and_an_ipv6_literal) {
    const auto local = endpoint("http://127.0.0.1:8080");
    BOOST_TEST(local.origin.host == "127.0.0.1");
    BOOST_TEST(local.origin.port == 8080);

    const auto v6 = endpoint("http://[::1]:9000");
    BOOST_TEST(v6.origin.host == "::1");  // without the brackets
    BOOST_TEST(v6.origin.port == 9000);
    BOOST_TEST(v6.base_path == "");
}

BOOST_AUTO_TEST_CASE(the_base_path_loses_its_trailing_slashes) {
    BOOST_TEST(endpoint("https://example.com/jobq").base_path == "/jobq");
    BOOST_TEST(endpoint("https://example.com/jobq///").base_path == "/jobq");
    BOOST_TEST(endpoint("https://example.com/a/b/").base_path == "/a/b");
    BOOST_TEST(endpoint("https://example.com/").base_path == "");
}

BOOST_AUTO_TEST_CASE(urls_that_are_not_a_server_are_refused) {
    for (const char* bad : {"ftp://example.com", "example.com:8080", "http://", "http:///jobq", "http://h:0",
                            "http://h:70000", "http://h/jobq?x=1", "http://h/#top", "http://user:secret@h",
                            "http://user@h:8080", "not a url"}) {
        const auto result = cli::parse_endpoint(bad);
        BOOST_TEST(std::holds_alternative<std::string>(result), bad);
    }
    const auto port = cli::parse_endpoint("http://h:70000");
    BOOST_TEST_REQUIRE(std::holds_alternative<std::string>(port));
    BOOST_TEST(contains(std::get<std::string>(port), "port"));
    const auto scheme = cli::parse_endpoint("ftp://example.com");
    BOOST_TEST_REQUIRE(std::holds_alternative<std::string>(scheme));
    BOOST_TEST(contains(std::get<std::string>(scheme), "ftp://example.com"));  // the message names the URL
}

BOOST_AUTO_TEST_CASE(an_api_error_body_becomes_its_message_and_code) {
    const cli::Reply lost{.status = 409,
                          .body = R"({"error":{"code":"lease_lost","message":"the lease was lost"}})"};
    BOOST_TEST(!lost.ok());
    BOOST_TEST(lost.error_text() == "the lease was lost (lease_lost, HTTP 409)");

    const cli::Reply proxy{.status = 502, .body = "<html>Bad Gateway</html>"};
    BOOST_TEST(proxy.error_text() == "HTTP 502: <html>Bad Gateway</html>");

    const cli::Reply bare{.status = 503, .body = ""};
    BOOST_TEST(bare.error_text() == "HTTP 503");

    const cli::Reply fine{.status = 204, .body = ""};
    BOOST_TEST(fine.ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_output)

BOOST_AUTO_TEST_CASE(indented_json_nests_by_two_spaces) {
    const auto value = json::parse(R"({"a":1,"b":[true,null,{"c":"x"}],"d":{},"e":[],"f":"y"})");
    const std::string expected = "{\n"
                                 "  \"a\": 1,\n"
                                 "  \"b\": [\n"
                                 "    true,\n"
                                 "    null,\n"
                                 "    {\n"
                                 "      \"c\": \"x\"\n"
                                 "    }\n"
                                 "  ],\n"
                                 "  \"d\": {},\n"
                                 "  \"e\": [],\n"
                                 "  \"f\": \"y\"\n"
                                 "}";
    BOOST_TEST(cli::indented_json(value) == expected);
}

BOOST_AUTO_TEST_CASE(indented_json_keeps_empty_containers_and_scalars_on_one_line) {
    BOOST_TEST(cli::indented_json(json::object{}) == "{}");
    BOOST_TEST(cli::indented_json(json::array{}) == "[]");
    BOOST_TEST(cli::indented_json(json::value("text")) == "\"text\"");
    BOOST_TEST(cli::indented_json(json::parse("[[]]")) == "[\n  []\n]");
}

BOOST_AUTO_TEST_CASE(job_table_has_a_header_and_one_row_per_job) {
    const auto table = cli::job_table({job(1, "queued", "default", "email", nullptr),
                                       job(12345, "failed", "q", "webhook", "boom")});
    const auto lines = lines_of(table);
    BOOST_TEST_REQUIRE(lines.size() == 3u);
    BOOST_TEST(table.ends_with("\n"));
    std::size_t from = 0;
    for (const std::string_view title : {"ID", "STATE", "QUEUE", "TYPE", "PRI", "ATTEMPTS", "RUN AT", "LAST ERROR"}) {
        const auto at = lines[0].find(title, from);
        BOOST_TEST_REQUIRE(at != std::string::npos, title);
        from = at + title.size();
    }
    BOOST_TEST(lines[0].starts_with("ID "));
    BOOST_TEST(lines[0].ends_with("LAST ERROR"));
}

BOOST_AUTO_TEST_CASE(job_table_columns_are_aligned) {
    const auto table = cli::job_table({job(1, "queued", "default", "email", nullptr),
                                       job(12345, "failed", "q", "webhook", "boom")});
    const auto lines = lines_of(table);
    BOOST_TEST_REQUIRE(lines.size() == 3u);
    const std::vector<std::string_view> titles = {"ID",       "STATE",  "QUEUE",  "TYPE",
                                                  "PRI",      "ATTEMPTS", "RUN AT", "LAST ERROR"};
    const std::vector<Words> cells = {
        {"1", "queued", "default", "email", "0", "1", "2024-05-01T12:00:00Z", "-"},
        {"12345", "failed", "q", "webhook", "0", "1", "2024-05-01T12:00:00Z", "boom"},
    };
    // The ID column is as wide as "12345": STATE starts two spaces after it, on every row.
    BOOST_TEST(lines[0].find("STATE") == 7u);
    for (std::size_t c = 0; c < titles.size(); ++c) {
        const auto offset = lines[0].find(titles[c]);
        BOOST_TEST_REQUIRE(offset != std::string::npos);
        for (std::size_t r = 0; r < cells.size(); ++r) {
            const auto& line = lines[r + 1];
            const auto& cell = cells[r][c];
            BOOST_TEST(line.compare(offset, cell.size(), cell) == 0, "row " << r << " column " << titles[c] << ": " << line);
            BOOST_TEST((offset == 0 || line[offset - 1] == ' '), "row " << r << " column " << titles[c]);
        }
    }
}

BOOST_AUTO_TEST_CASE(a_null_or_missing_last_error_shows_a_dash) {
    auto without = job(2, "queued", "default", "email", nullptr);
    without.erase("last_error");
    const auto lines = lines_of(cli::job_table({job(1, "queued", "default", "email", nullptr), without}));
    BOOST_TEST_REQUIRE(lines.size() == 3u);
    BOOST_TEST(lines[1].ends_with("  -"), lines[1]);
    BOOST_TEST(lines[2].ends_with("  -"), lines[2]);
    BOOST_TEST(!contains(lines[1], "null"));
}

BOOST_AUTO_TEST_CASE(a_long_or_multi_line_error_is_cut_to_one_line) {
    const auto long_error = lines_of(cli::job_table({job(1, "failed", "q", "t", "abcdefghijklmnopqrstuvwxyz")}, 10));
    BOOST_TEST_REQUIRE(long_error.size() == 2u);
    BOOST_TEST(long_error[1].ends_with(" abcdefghij…"), long_error[1]);

    const auto exact = lines_of(cli::job_table({job(1, "failed", "q", "t", "abcdefghij")}, 10));
    BOOST_TEST_REQUIRE(exact.size() == 2u);
    BOOST_TEST(exact[1].ends_with(" abcdefghij"), exact[1]);  // as wide as allowed: not cut

    const auto table = cli::job_table({job(1, "failed", "q", "t", "line one\nline two\r\nline three")}, 12);
    BOOST_TEST(std::count(table.begin(), table.end(), '\n') == 2);  // the header and one row
    const auto multi_line = lines_of(table);
    BOOST_TEST_REQUIRE(multi_line.size() == 2u);
    BOOST_TEST(multi_line[1].ends_with(" line one lin…"), multi_line[1]);
    BOOST_TEST(!contains(table, "\r"));

    const auto accented = lines_of(cli::job_table({job(1, "failed", "q", "t", "ééééé")}, 3));
    BOOST_TEST_REQUIRE(accented.size() == 2u);
    BOOST_TEST(accented[1].ends_with(" ééé…"), accented[1]);  // characters, not bytes, and none split
}

BOOST_AUTO_TEST_CASE(a_utf8_character_takes_one_column) {
    const auto lines = lines_of(cli::job_table({job(1, "queued", "éééééé", "email", nullptr),
                                                job(2, "queued", "abcdef", "webhook", nullptr)}));
    BOOST_TEST_REQUIRE(lines.size() == 3u);
    const auto column = display_column(lines[0], lines[0].find("TYPE"));
    BOOST_TEST(display_column(lines[1], lines[1].find("email")) == column, lines[1]);
    BOOST_TEST(display_column(lines[2], lines[2].find("webhook")) == column, lines[2]);
    // "éééééé" is six characters wide, not twelve: two spaces separate it from the next column.
    BOOST_TEST(contains(lines[1], "éééééé  email"), lines[1]);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cli_program)

BOOST_AUTO_TEST_CASE(utf8_tail_keeps_the_last_bytes) {
    BOOST_TEST(cli::utf8_tail("hello world", 5) == "world");
    BOOST_TEST(cli::utf8_tail("abc", 10) == "abc");
    BOOST_TEST(cli::utf8_tail("abc", 0) == "");
    BOOST_TEST(cli::utf8_tail("", 4) == "");
}

BOOST_AUTO_TEST_CASE(utf8_tail_never_starts_inside_a_character) {
    // "xéy" is 78 C3 A9 79: the last two bytes begin on é's continuation byte.
    BOOST_TEST(cli::utf8_tail("x\xC3\xA9y", 2) == "y");
    BOOST_TEST(cli::utf8_tail("x\xC3\xA9y", 3) == "\xC3\xA9y");
    BOOST_TEST(cli::utf8_tail("caf\xC3\xA9", 1) == "");
    // A 4-byte character whose first byte is cut off: its three continuation bytes go too.
    BOOST_TEST(cli::utf8_tail("a\xF0\x9F\x8E\x89", 3) == "");
}

BOOST_AUTO_TEST_CASE(utf8_tail_replaces_bytes_that_are_not_utf8) {
    BOOST_TEST(cli::utf8_tail("a\xFF" "b", 100) == "a?b");
    BOOST_TEST(cli::utf8_tail("a\xC0\x80z", 100) == "a??z");        // an overlong NUL
    BOOST_TEST(cli::utf8_tail("a\xED\xA0\x80z", 100) == "a???z");   // a lone surrogate, U+D800
    BOOST_TEST(cli::utf8_tail("a\xC3z", 100) == "a?z");             // a character cut short
    BOOST_TEST(cli::utf8_tail("\xF4\x90\x80\x80", 100) == "????");  // beyond U+10FFFF
}

BOOST_AUTO_TEST_CASE(utf8_tail_leaves_valid_text_alone) {
    const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x8E\x89 ok";
    BOOST_TEST(cli::utf8_tail(text, text.size()) == text);
    BOOST_TEST(cli::utf8_tail(text, 1000) == text);
}

BOOST_AUTO_TEST_CASE(find_program_takes_a_path_as_itself_when_it_can_run) {
    const TemporaryDirectory dir;
    const auto runnable = write_script(dir.path() / "tool", 0755);
    const auto plain = write_script(dir.path() / "notes", 0644);
    BOOST_TEST(cli::find_program(runnable, "") == runnable);
    BOOST_TEST(cli::find_program(runnable, "/nonexistent") == runnable);  // PATH plays no part
    BOOST_TEST(cli::find_program(plain, dir.path().string()) == "");
    BOOST_TEST(cli::find_program((dir.path() / "missing").string(), dir.path().string()) == "");
    BOOST_TEST(cli::find_program(dir.path().string() + "/", "") == "");  // a directory does not run
}

BOOST_AUTO_TEST_CASE(find_program_searches_the_path_in_order) {
    const TemporaryDirectory dir;
    for (const char* sub : {"empty", "plain", "first", "second"}) std::filesystem::create_directory(dir.path() / sub);
    write_script(dir.path() / "plain" / "tool", 0644);
    const auto first = write_script(dir.path() / "first" / "tool", 0755);
    write_script(dir.path() / "second" / "tool", 0755);
    const auto in = [&](const char* sub) { return (dir.path() / sub).string(); };

    const std::string path = in("empty") + ":" + in("plain") + ":" + in("first") + ":" + in("second");
    BOOST_TEST(cli::find_program("tool", path) == first);
    BOOST_TEST(cli::find_program("tool", in("second") + ":" + in("first")) == (dir.path() / "second" / "tool").string());
    BOOST_TEST(cli::find_program("tool", in("empty") + ":" + in("plain")) == "");
    BOOST_TEST(cli::find_program("no-such-tool", path) == "");
    BOOST_TEST(cli::find_program("", path) == "");
}

BOOST_AUTO_TEST_CASE(stdin_reaches_the_program) {
    // More than a pipe holds, both ways: the input is fed while the output is read.
    std::string payload;
    for (int i = 0; i < 20000; ++i) payload += "line " + std::to_string(i) + "\n";
    cli::ProgramLimits limits;
    limits.output_bytes = 1 << 20;
    limits.error_tail_bytes = 1024;
    asio::io_context io;
    auto program = start_shell(io, "cat", payload, limits);
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST_REQUIRE(finished->end.exit_status.has_value());
    BOOST_TEST(*finished->end.exit_status == 0);
    BOOST_TEST(!finished->end.signal.has_value());
    BOOST_TEST(finished->end.output.size() == payload.size());
    BOOST_TEST((finished->end.output == payload));
    BOOST_TEST(!finished->end.output_truncated);
    BOOST_TEST(finished->end.error_tail == "");
}

BOOST_AUTO_TEST_CASE(an_exit_status_is_reported) {
    asio::io_context io;
    auto program = start_shell(io, "echo failing >&2; exit 3");
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST_REQUIRE(finished->end.exit_status.has_value());
    BOOST_TEST(*finished->end.exit_status == 3);
    BOOST_TEST(!finished->end.signal.has_value());
    BOOST_TEST(finished->end.describe() == "exit status 3");
    BOOST_TEST(finished->end.error_tail == "failing\n");
}

BOOST_AUTO_TEST_CASE(a_signal_that_ends_the_program_is_reported) {
    asio::io_context io;
    auto program = start_shell(io, "kill -KILL $$");
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST(!finished->end.exit_status.has_value());
    BOOST_TEST_REQUIRE(finished->end.signal.has_value());
    BOOST_TEST(*finished->end.signal == SIGKILL);
    BOOST_TEST(finished->end.describe() == "killed by SIGKILL");
}

BOOST_AUTO_TEST_CASE(output_beyond_the_limit_is_cut_and_marked) {
    cli::ProgramLimits limits;
    limits.output_bytes = 10;
    limits.error_tail_bytes = 1024;
    asio::io_context io;

    auto over = start_shell(io, "printf 0123456789abcdef", {}, limits);
    const auto cut = run_to_end(io, *over);
    BOOST_TEST_REQUIRE(cut.has_value());
    BOOST_TEST(cut->end.output == "0123456789");
    BOOST_TEST(cut->end.output_truncated);

    auto exact = start_shell(io, "printf 0123456789", {}, limits);
    const auto whole = run_to_end(io, *exact);
    BOOST_TEST_REQUIRE(whole.has_value());
    BOOST_TEST(whole->end.output == "0123456789");
    BOOST_TEST(!whole->end.output_truncated);

    // Many reads' worth: the program is not stopped, the rest is dropped.
    auto large = start_shell(io, "head -c 200000 /dev/zero; exit 4", {}, limits);
    const auto dropped = run_to_end(io, *large);
    BOOST_TEST_REQUIRE(dropped.has_value());
    BOOST_TEST(dropped->end.output.size() == 10u);
    BOOST_TEST(dropped->end.output_truncated);
    BOOST_TEST_REQUIRE(dropped->end.exit_status.has_value());
    BOOST_TEST(*dropped->end.exit_status == 4);
}

BOOST_AUTO_TEST_CASE(only_the_tail_of_stderr_is_kept) {
    cli::ProgramLimits limits;
    limits.output_bytes = 1024;
    limits.error_tail_bytes = 16;
    asio::io_context io;
    auto program =
        start_shell(io, "printf out; head -c 100000 /dev/zero | tr '\\000' x >&2; printf THE-END >&2", {}, limits);
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST(finished->end.error_tail == std::string(9, 'x') + "THE-END");
    BOOST_TEST(finished->end.error_tail.size() == 16u);
    BOOST_TEST(finished->end.output == "out");
}

BOOST_AUTO_TEST_CASE(the_program_sees_the_environment_given) {
    BOOST_TEST_REQUIRE(::setenv("JOBQ_CLI_TEST_PARENT", "leaked", 1) == 0);
    asio::io_context io;
    const Words environment = {"PATH=/usr/bin:/bin", "FOO=bar baz"};
    auto program = start_shell(io, "printf '%s|%s' \"$FOO\" \"${JOBQ_CLI_TEST_PARENT-unset}\"", {}, {}, environment);
    const auto finished = run_to_end(io, *program);
    ::unsetenv("JOBQ_CLI_TEST_PARENT");
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST(finished->end.output == "bar baz|unset");  // this process's variables are not passed on
}

BOOST_AUTO_TEST_CASE(a_program_that_never_reads_its_input_still_finishes) {
    std::signal(SIGPIPE, SIG_IGN);  // as jobq work does: the write fails with EPIPE instead
    asio::io_context io;
    auto program = start_shell(io, "exit 0", std::string(1 << 20, 'p'));
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST_REQUIRE(finished->end.exit_status.has_value());
    BOOST_TEST(*finished->end.exit_status == 0);
    BOOST_TEST((finished->took < 5s));
}

BOOST_AUTO_TEST_CASE(kill_ends_a_running_program_promptly) {
    asio::io_context io;
    auto program = start_shell(io, "sleep 30");
    asio::steady_timer soon(io, 100ms);
    soon.async_wait([&](const boost::system::error_code&) { program->kill(); });
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    BOOST_TEST_REQUIRE(finished->end.signal.has_value());
    BOOST_TEST(*finished->end.signal == SIGKILL);
    BOOST_TEST(finished->end.describe() == "killed by SIGKILL");
    BOOST_TEST((finished->took < 5s));
}

// The shell ends at once, but the `sleep` it left in the background holds stdout and stderr
// open for 5 s: the run ends a grace period after the shell, not when the pipes close.
BOOST_AUTO_TEST_CASE(a_child_left_behind_holding_the_output_does_not_hold_the_run) {
    asio::io_context io;
    auto program = start_shell(io, "sleep 5 & echo $!; exit 0");
    const auto finished = run_to_end(io, *program);
    BOOST_TEST_REQUIRE(finished.has_value());
    const int left_behind = std::atoi(finished->end.output.c_str());
    if (left_behind > 0) ::kill(left_behind, SIGKILL);
    BOOST_TEST_REQUIRE(finished->end.exit_status.has_value());
    BOOST_TEST(*finished->end.exit_status == 0);
    BOOST_TEST(left_behind > 0, "output: " << finished->end.output);
    BOOST_TEST((finished->took < 4s));
}

BOOST_AUTO_TEST_CASE(a_missing_program_cannot_be_started) {
    asio::io_context io;
    const auto started =
        cli::Program::start(io.get_executor(), {"/nonexistent/jobq-cli-test-missing"}, shell_environment, "input");
    BOOST_TEST_REQUIRE(std::holds_alternative<std::string>(started));
    BOOST_TEST(contains(std::get<std::string>(started), "jobq-cli-test-missing"), std::get<std::string>(started));
}

BOOST_AUTO_TEST_SUITE_END()
