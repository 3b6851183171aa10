# cpp-httplib for vox-shim and vox-bench: the imported target vox::httplib.
# Versions before 0.53.1 accept ambiguous request framing, percent-decode
# header values and do not cap headers (Debian 12 ships 0.11.4), so an older
# one is an error, never a fallback. A system httplib is used when it is new
# enough; otherwise VOX_HTTPLIB_INCLUDE_DIR must name a directory holding a
# new enough httplib.h (the scripts pass the vendored copy).
set(VOX_HTTPLIB_MIN_VERSION 0.53.1)
set(VOX_HTTPLIB_INCLUDE_DIR "" CACHE PATH "directory with cpp-httplib ${VOX_HTTPLIB_MIN_VERSION} or newer's httplib.h")

# The version of the httplib.h in `dir`, or "" in `out`.
function(vox_httplib_version dir out)
  set(version "")
  if(EXISTS "${dir}/httplib.h")
    file(STRINGS "${dir}/httplib.h" line REGEX "^#define CPPHTTPLIB_VERSION \"[0-9.]+\"" LIMIT_COUNT 1)
    string(REGEX REPLACE ".*\"([0-9.]+)\".*" "\\1" version "${line}")
  endif()
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

if(NOT TARGET vox::httplib)
  find_path(VOX_SYSTEM_HTTPLIB_DIR httplib.h)
  vox_httplib_version("${VOX_SYSTEM_HTTPLIB_DIR}" version)
  set(dir "${VOX_SYSTEM_HTTPLIB_DIR}")
  if(NOT version OR version VERSION_LESS VOX_HTTPLIB_MIN_VERSION)
    if(NOT VOX_HTTPLIB_INCLUDE_DIR)
      message(FATAL_ERROR "cpp-httplib ${VOX_HTTPLIB_MIN_VERSION} or newer is needed (installed: ${version}${dir}): "
                          "configure with -DVOX_HTTPLIB_INCLUDE_DIR=DIR, DIR holding its httplib.h "
                          "(the scripts use ../shared/vendor/cpp-httplib-0.53.1)")
    endif()
    set(dir "${VOX_HTTPLIB_INCLUDE_DIR}")
    vox_httplib_version("${dir}" version)
    if(NOT version OR version VERSION_LESS VOX_HTTPLIB_MIN_VERSION)
      message(FATAL_ERROR "VOX_HTTPLIB_INCLUDE_DIR=${dir}: no httplib.h of cpp-httplib ${VOX_HTTPLIB_MIN_VERSION} "
                          "or newer there (found: ${version}); older ones let requests be smuggled")
    endif()
  endif()
  message(STATUS "cpp-httplib ${version}: ${dir}")
  add_library(vox::httplib INTERFACE IMPORTED)
  # SYSTEM: its own warnings are not the project's.
  target_include_directories(vox::httplib SYSTEM INTERFACE "${dir}")
endif()
