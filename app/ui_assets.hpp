#pragma once
// The dashboard's files (app/ui/, and Chart.js from Debian's libjs-chart.js), embedded in
// the binary at build time by cmake/embed_files.cmake: nothing to deploy beside jobq.

#include <span>
#include <string_view>

namespace jobq::app {

struct UiAsset {
    std::string_view name;  // as served under /ui/: "dashboard.js"
    std::string_view content_type;
    std::string_view body;
};

std::span<const UiAsset> ui_assets();

}  // namespace jobq::app
