// A keep-alive HTTP receiver on loopback for bench/webhook: answers 200 to every request
// (test/support/webhook_receiver, recording nothing but counts). Prints "READY <port>";
// with `expect`, "RECEIVED <n> AT <unix seconds>" when the n-th request arrives; on SIGINT
// or SIGTERM "<requests> requests on <connections> connections".
//
//   webhook_receiver [port=0] [expect=0]

#include "webhook_receiver.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
    // Blocked before the receiver's thread starts, so the signals come to sigwait below.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    const auto port = argc > 1 ? static_cast<std::uint16_t>(std::stoi(argv[1])) : std::uint16_t{0};
    const std::size_t expect = argc > 2 ? std::stoul(argv[2]) : 0;
    auto answer = [expect](const jobq::test::ReceivedRequest&, std::size_t n) {
        if (n == expect) {
            const auto now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch());
            std::printf("RECEIVED %zu AT %.6f\n", n, now.count());
            std::fflush(stdout);
        }
        return jobq::test::ReceiverReply{};
    };
    jobq::test::WebhookReceiver receiver(answer, std::nullopt, /*record=*/false, port);
    std::printf("READY %u\n", receiver.port());
    std::fflush(stdout);

    int signal = 0;
    sigwait(&stop, &signal);
    std::printf("%zu requests on %zu connections\n", receiver.request_count(), receiver.connections());
    return 0;
}
