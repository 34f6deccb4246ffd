# The library's sources, every file of its layers: one list for the main
# build and the fuzz build (tests/fuzz), which builds them with its own
# flags. Set STEWARD_ROOT to the source root before including this.
file(GLOB STEWARD_SOURCES CONFIGURE_DEPENDS
  ${STEWARD_ROOT}/src/base/*.c ${STEWARD_ROOT}/src/chan/*.c ${STEWARD_ROOT}/src/owner/*.c
  ${STEWARD_ROOT}/src/task/*.c ${STEWARD_ROOT}/src/db/*.c ${STEWARD_ROOT}/src/account/*.c
  ${STEWARD_ROOT}/src/log/*.c)
