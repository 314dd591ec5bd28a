// The client commands that make a request or a few and print the answer: enqueue, get,
// list, retry, cancel, delete, stats; and the dispatch to them and to `work`.
#include "app/cli/cli.hpp"

#include "app/cli/command_context.hpp"
#include "app/cli/output.hpp"
#include "app/cli/work.hpp"
#include "core/duration.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <charconv>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <unistd.h>

namespace jobq::app::cli {

namespace json = boost::json;

namespace {

constexpr std::chrono::milliseconds request_timeout{30'000};
constexpr std::int64_t default_list_limit = 100;
constexpr std::int64_t max_page = 1'000;  // the API's largest page

struct Command {
    std::string_view synopsis;
    ArgumentSpec spec;
    int (*run)(const std::string& name, const Arguments&, const Environment&);
};

int usage_error(const std::string& name, const std::string& message) {
    std::cerr << "jobq " << name << ": " << message << "\n(jobq help lists the commands and their options)\n";
    return usage;
}

std::optional<Endpoint> endpoint_or_report(const std::string& name, const Arguments& arguments,
                                           const Environment& env) {
    auto endpoint = endpoint_for(arguments, env);
    if (auto* error = std::get_if<std::string>(&endpoint)) {
        usage_error(name, *error);
        return std::nullopt;
    }
    return std::get<Endpoint>(std::move(endpoint));
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

void print_json(const json::value& value) {
    std::cout << (stdout_is_terminal() ? indented_json(value) : json::serialize(value)) << "\n";
}

// The single positional argument a command takes: a job id.
std::optional<std::int64_t> job_id_argument(const std::string& name, const Arguments& arguments) {
    if (arguments.positional.size() != 1) {
        usage_error(name, "takes one job id");
        return std::nullopt;
    }
    const auto id = parse_integer(arguments.positional[0]);
    if (!id || *id <= 0) {
        usage_error(name, "'" + arguments.positional[0] + "' is not a job id");
        return std::nullopt;
    }
    return id;
}

// Puts the option's integer into the body; false (reported) when it is not one.
bool add_integer_option(const std::string& name, const Arguments& arguments, std::string_view option,
                        std::string_view field, json::object& body) {
    const auto text = arguments.option(option);
    if (!text) return true;
    const auto value = parse_integer(*text);
    if (!value) {
        usage_error(name, "--" + std::string(option) + " must be an integer, not '" + *text + "'");
        return false;
    }
    body[field] = *value;
    return true;
}

std::optional<json::object> enqueue_body(const std::string& name, const Arguments& arguments) {
    if (arguments.positional.empty() || arguments.positional.size() > 2) {
        usage_error(name, "takes a job type and, optionally, its payload (JSON, or - to read it from stdin)");
        return std::nullopt;
    }
    std::string payload_text = arguments.positional.size() == 2 ? arguments.positional[1] : "{}";
    if (payload_text == "-") payload_text.assign(std::istreambuf_iterator<char>(std::cin), {});
    boost::system::error_code ec;
    auto payload = json::parse(payload_text, ec);
    if (ec) {
        usage_error(name, "the payload is not JSON: " + ec.message());
        return std::nullopt;
    }
    json::object body;
    body["type"] = arguments.positional[0];
    body["payload"] = std::move(payload);
    if (auto queue = arguments.option("queue")) body["queue"] = *queue;
    if (auto key = arguments.option("key")) body["idempotency_key"] = *key;
    if (auto run_at = arguments.option("run-at")) body["run_at"] = *run_at;
    if (auto delay = arguments.option("delay")) {
        const auto ms = core::parse_duration_ms(*delay);
        if (!ms) {
            usage_error(name, "--delay must be a duration such as 1500 (ms), 30s, 5m or 2h, not '" + *delay + "'");
            return std::nullopt;
        }
        body["delay_ms"] = *ms;
    }
    if (!add_integer_option(name, arguments, "priority", "priority", body) ||
        !add_integer_option(name, arguments, "max-retries", "max_retries", body))
        return std::nullopt;
    return body;
}

int enqueue(const std::string& name, const Arguments& arguments, const Environment& env) {
    const auto endpoint = endpoint_or_report(name, arguments, env);
    if (!endpoint) return usage;
    const auto body = enqueue_body(name, arguments);
    if (!body) return usage;
    BlockingApiClient client(*endpoint, request_timeout);
    const auto result = client.call("POST", "/jobs", json::serialize(*body));
    if (!result || !result->ok()) return report_failure(result, name);
    std::cout << json::parse(result->body).at("id").as_int64() << "\n";
    return done;
}

// One request about one job (get, retry, cancel, delete); prints the job it answers.
int job_request(const std::string& name, const Arguments& arguments, const Environment& env) {
    static const std::map<std::string, std::pair<std::string, std::string>, std::less<>> requests = {
        {"get", {"GET", ""}}, {"retry", {"POST", "/retry"}}, {"cancel", {"POST", "/cancel"}},
        {"delete", {"DELETE", ""}}};
    const auto endpoint = endpoint_or_report(name, arguments, env);
    if (!endpoint) return usage;
    const auto id = job_id_argument(name, arguments);
    if (!id) return usage;
    const auto& [method, suffix] = requests.at(name);
    BlockingApiClient client(*endpoint, request_timeout);
    const auto result = client.call(method, "/jobs/" + std::to_string(*id) + suffix);
    if (!result || !result->ok()) return report_failure(result, name);
    if (!result->body.empty()) print_json(json::parse(result->body));
    return done;
}

std::optional<std::string> list_query(const std::string& name, const Arguments& arguments, std::int64_t& limit) {
    std::string query;
    for (const std::string_view filter : {"state", "queue", "type"}) {
        if (auto value = arguments.option(filter)) {
            query.append("&").append(filter).append("=");
            query.append(boost::urls::encode(*value, boost::urls::unreserved_chars));
        }
    }
    limit = default_list_limit;
    if (auto text = arguments.option("limit")) {
        const auto value = parse_integer(*text);
        if (!value || *value < 1) {
            usage_error(name, "--limit must be a positive integer, not '" + *text + "'");
            return std::nullopt;
        }
        limit = *value;
    }
    return query;
}

int list(const std::string& name, const Arguments& arguments, const Environment& env) {
    const auto endpoint = endpoint_or_report(name, arguments, env);
    if (!endpoint) return usage;
    std::int64_t limit = 0;
    const auto query = list_query(name, arguments, limit);
    if (!query) return usage;
    BlockingApiClient client(*endpoint, request_timeout);
    const bool as_table = stdout_is_terminal() && !arguments.flag("json");
    std::vector<json::object> jobs;
    std::string cursor;
    for (std::int64_t left = limit; left > 0;) {
        const auto page = std::min(left, max_page);
        std::string target = "/jobs?limit=" + std::to_string(page) + *query;
        if (!cursor.empty()) target += "&cursor=" + cursor;
        const auto result = client.call("GET", target);
        if (!result || !result->ok()) return report_failure(result, name);
        const auto answer = json::parse(result->body);
        for (const auto& job : answer.at("jobs").as_array()) {
            if (as_table) jobs.push_back(job.as_object());
            else std::cout << json::serialize(job) << "\n";
        }
        const auto got = static_cast<std::int64_t>(answer.at("jobs").as_array().size());
        left -= got;
        const auto& next = answer.at("next_cursor");
        if (next.is_null() || got == 0) break;
        cursor = boost::urls::encode(next.as_string(), boost::urls::unreserved_chars);
    }
    if (as_table) std::cout << job_table(jobs);
    return done;
}

int stats(const std::string& name, const Arguments& arguments, const Environment& env) {
    const auto endpoint = endpoint_or_report(name, arguments, env);
    if (!endpoint) return usage;
    if (!arguments.positional.empty()) return usage_error(name, "takes no arguments");
    BlockingApiClient client(*endpoint, request_timeout);
    const auto result = client.call("GET", "/stats");
    if (!result || !result->ok()) return report_failure(result, name);
    print_json(json::parse(result->body));
    return done;
}

int work_command(const std::string& name, const Arguments& arguments, const Environment& env) {
    auto endpoint = endpoint_for(arguments, env, /*worker=*/true);
    if (auto* error = std::get_if<std::string>(&endpoint)) return usage_error(name, *error);
    auto options = work_options(arguments);
    if (auto* error = std::get_if<std::string>(&options)) return usage_error(name, *error);
    return run_worker(std::get<Endpoint>(std::move(endpoint)), std::get<WorkOptions>(std::move(options)));
}

int help(const std::string&, const Arguments&, const Environment&) {
    std::cout << client_usage();
    return done;
}

ArgumentSpec with_url(ArgumentSpec spec) {
    spec.options.insert("url");
    return spec;
}

const std::map<std::string, Command, std::less<>>& commands() {
    static const std::map<std::string, Command, std::less<>> table = {
        {"enqueue",
         {"enqueue TYPE [PAYLOAD_JSON | -] [--queue Q] [--priority N] [--delay DURATION] [--run-at RFC3339]\n"
          "          [--max-retries N] [--key IDEMPOTENCY_KEY]          prints the new job's id",
          with_url({.options = {"queue", "priority", "delay", "run-at", "max-retries", "key"}}), enqueue}},
        {"get", {"get ID                                                   the job as JSON", with_url({}), job_request}},
        {"list",
         {"list [--state S] [--queue Q] [--type T] [--limit N] [--json]  a table, or JSON lines when piped",
          with_url({.options = {"state", "queue", "type", "limit"}, .flags = {"json"}}), list}},
        {"retry", {"retry ID                                                 queue a failed or cancelled job again",
                   with_url({}), job_request}},
        {"cancel", {"cancel ID                                                cancel a queued job", with_url({}),
                    job_request}},
        {"delete", {"delete ID                                                delete a job that is not running",
                    with_url({}), job_request}},
        {"stats", {"stats                                                    counts by state, queue and type",
                   with_url({}), stats}},
        {"work",
         {"work --type T [--queue Q] [--concurrency N] [--lease-ms MS] [--shutdown-timeout-ms MS] -- PROGRAM [ARGS]\n"
          "          runs PROGRAM once per leased job: payload on stdin; exit 0 ack, 65 permanent failure,\n"
          "          anything else a retryable failure (the last 2 KiB of stderr its error)",
          with_url({.options = {"type", "queue", "concurrency", "lease-ms", "shutdown-timeout-ms"},
                    .repeatable = {"type", "queue"},
                    .takes_program = true}),
          work_command}},
        {"help", {"help                                                     this text", {}, help}},
    };
    return table;
}

}  // namespace

bool is_client_command(std::string_view word) { return commands().contains(word); }

std::string client_usage() {
    std::string text =
        "Usage: jobq [serve] [SERVER OPTIONS]      run the server (jobq --help lists its options)\n"
        "       jobq COMMAND [ARGS] [--url URL]    talk to a running server\n\nCommands:\n";
    for (const auto& [name, command] : commands()) text += "  " + std::string(command.synopsis) + "\n";
    text +=
        "\nThe server is --url, or JOBQ_URL, or " + std::string(default_url) +
        "; JOBQ_API_TOKEN is sent as a Bearer token\n"
        "(work sends JOBQ_WORKER_TOKEN when it is set). Exit status: 0 done, 1 the server refused (its error\n"
        "on stderr), 2 usage, 3 the server could not be reached.\n";
    return text;
}

int run_client_command(const std::vector<std::string>& args, const Environment& env) {
    const auto& command = commands().at(args.at(0));
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    auto parsed = parse_arguments(rest, command.spec);
    if (auto* error = std::get_if<UsageError>(&parsed)) return usage_error(args[0], error->message);
    try {
        return command.run(args[0], std::get<Arguments>(parsed), env);
    } catch (const std::exception& e) {
        // An answer that is not the JSON the API documents.
        std::cerr << "jobq " << args[0] << ": unexpected answer from the server: " << e.what() << "\n";
        return refused;
    }
}

}  // namespace jobq::app::cli
