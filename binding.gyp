{
  "targets": [
    {
      "target_name": "nvgw_io",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/flow_claim.cc",
        "native/ifindex_filter.cc",
        "native/netlink_socket.cc",
        "native/packet_port.cc",
        "native/tap_port.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "_GNU_SOURCE"
      ],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"]
    }
  ]
}
