# cpp-httplib for vox-shim, vox-relay and vox-bench: the library vox::httplib.
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

# httplib.h defines all of cpp-httplib inline, so each file including it
# compiled most of the library again (20-35 s, 60-70 s under the sanitizers).
# Split as upstream's split.py splits it, between its two border comments:
# the declarations in `outdir`/httplib.h, the implementation in
# `outdir`/httplib.cc (its `inline`s dropped), compiled once.
function(vox_httplib_split header outdir)
  set(border "// ----------------------------------------------------------------------------")
  file(READ "${header}" text)
  string(FIND "${text}" "${border}" first)
  string(FIND "${text}" "${border}" last REVERSE)
  string(LENGTH "${border}" border_length)
  math(EXPR implementation_start "${first} + ${border_length}")
  string(SUBSTRING "${text}" ${implementation_start} -1 after_first)
  string(FIND "${after_first}" "${border}" second)
  math(EXPR second "${second} + ${implementation_start}")
  if(first EQUAL -1 OR NOT second EQUAL last)
    message(FATAL_ERROR "${header}: not two border comments (${border}) around the implementation; "
                        "cannot split it like cpp-httplib's split.py")
  endif()
  math(EXPR implementation_length "${last} - ${implementation_start}")
  math(EXPR tail_start "${last} + ${border_length}")
  string(SUBSTRING "${text}" 0 ${first} head)
  string(SUBSTRING "${text}" ${implementation_start} ${implementation_length} implementation)
  string(SUBSTRING "${text}" ${tail_start} -1 tail)
  string(REPLACE "inline " "" implementation "${implementation}")
  # Written only when they change: a new timestamp at every configure would
  # rebuild every file including them.
  file(WRITE "${outdir}/httplib.h.new" "${head}${tail}")
  file(WRITE "${outdir}/httplib.cc.new" "#include \"httplib.h\"\nnamespace httplib {\n${implementation}} // namespace httplib\n")
  foreach(part httplib.h httplib.cc)
    file(COPY_FILE "${outdir}/${part}.new" "${outdir}/${part}" ONLY_IF_DIFFERENT)
    file(REMOVE "${outdir}/${part}.new")
  endforeach()
  # Reconfigure when the header changes.
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${header}")
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
  vox_httplib_split("${dir}/httplib.h" "${CMAKE_BINARY_DIR}/httplib")
  find_package(OpenSSL REQUIRED)
  find_package(Threads REQUIRED)
  add_library(vox_httplib STATIC "${CMAKE_BINARY_DIR}/httplib/httplib.cc")
  # SYSTEM, and no warnings: its own warnings are not the project's.
  target_include_directories(vox_httplib SYSTEM PUBLIC "${CMAKE_BINARY_DIR}/httplib")
  target_compile_options(vox_httplib PRIVATE -w)
  # Its classes change with these, so every file including httplib.h must
  # agree with the library: they are defined here, once, for all of them.
  # https: the relay downloads recordings and reaches its storage over it.
  # The listen backlog: httplib's default (128) resets a burst of new
  # connections.
  target_compile_definitions(vox_httplib PUBLIC CPPHTTPLIB_OPENSSL_SUPPORT CPPHTTPLIB_LISTEN_BACKLOG=SOMAXCONN)
  target_link_libraries(vox_httplib PUBLIC OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
  add_library(vox::httplib ALIAS vox_httplib)
endif()
