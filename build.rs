//! Build script: sets up linking for a Node.js native addon.

fn main() {
    napi_build::setup();
}
