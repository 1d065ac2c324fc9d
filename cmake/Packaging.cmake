# Packaging.cmake: `cpack -G DEB` builds a Debian package of what `cmake --install` installs.
set(CPACK_PACKAGE_NAME dfs)
set(CPACK_PACKAGE_VENDOR "dfs developers")
set(CPACK_PACKAGE_CONTACT "dfs maintainers <dfs@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "distributed file system over ONC RPC: server, client tool and library")
set(CPACK_PACKAGE_DESCRIPTION
    "dfs stores every file as chunks on two neighbouring servers of a cluster,
so that it stays readable with a server down. The package holds the dfsd
server and its systemd unit, the dfs command, the dfsadm user-database tool,
and libdfs (shared and static) with its header and pkg-config file.")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES OFF)

set(CPACK_DEBIAN_PACKAGE_MAINTAINER "dfs maintainers <dfs@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# Library dependencies come from dpkg-shlibdeps; rpcbind is needed at run time.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "rpcbind")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openssl, fuse3")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/deploy/debian/postinst)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
