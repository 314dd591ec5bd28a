// Every Beast header includes this one first. This copy is found before Boost's own by the
// libraries that may not use Beast (core/, storage/, handlers/): their include path puts
// it first, so including any Beast header there fails to compile.
#error "Beast is net/'s: core/, storage/ and handlers/ may not include it (see DESIGN.md, Layout)"
