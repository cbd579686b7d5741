# Installs the Python package the way README.md says (pip, offline, no build isolation)
# into a temporary --target directory, then imports it from there and reads the golden
# file. Arguments: PYTHON, SOURCE_DIR, WORK_DIR. The package's build tree
# (WORK_DIR/build) is kept between runs, so a rerun rebuilds only what changed.
set(site "${WORK_DIR}/site")
file(REMOVE_RECURSE "${site}")
set(ENV{WEIGHTLESS_PYTHON_BUILD_DIR} "${WORK_DIR}/build")
if(NOT DEFINED ENV{CMAKE_BUILD_PARALLEL_LEVEL})
  set(ENV{CMAKE_BUILD_PARALLEL_LEVEL} 2)
endif()
execute_process(
  COMMAND "${PYTHON}" -m pip install --no-build-isolation --no-deps --no-index --no-cache-dir
          --disable-pip-version-check --target "${site}" "${SOURCE_DIR}/bindings/python"
  RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "pip install failed (${rc})")
endif()
set(ENV{PYTHONPATH} "${site}")
set(ENV{PYTHONDONTWRITEBYTECODE} 1)
execute_process(
  COMMAND "${PYTHON}" -c "
import pathlib, sys, weightless
assert pathlib.Path(weightless.__file__).parent == pathlib.Path(sys.argv[1]) / 'weightless', weightless.__file__
f = weightless.open(sys.argv[2])
assert f['fc1'].decode().shape == (30, 20) and f.verify() == []
print('installed weightless', weightless.__version__, 'reads', len(f), 'tensors')
" "${site}" "${SOURCE_DIR}/tests/golden/sample.wl"
  RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "the installed package does not work (${rc})")
endif()
