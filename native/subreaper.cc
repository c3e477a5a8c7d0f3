// The two system calls an unprivileged agent needs to keep hold of processes that left their task's
// process tree (`setsid` and double-fork escapees), which Node cannot make itself:
// - setChildSubreaper(): prctl(PR_SET_CHILD_SUBREAPER, 1). An orphan of any descendant is then
//   re-parented to the agent instead of init, so the agent can still find and kill it.
// - reap(pid): waitpid(pid, WNOHANG) for one such adopted child that has exited (libuv reaps only the
//   children Node spawned; an adopted one would stay a zombie of the agent).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <node_api.h>

static napi_value Fail(napi_env env, const char* what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, nullptr, message);
  return nullptr;
}

static napi_value SetChildSubreaper(napi_env env, napi_callback_info info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return Fail(env, "prctl(PR_SET_CHILD_SUBREAPER)");
  napi_value result;
  napi_get_boolean(env, true, &result);
  return result;
}

static napi_value IsChildSubreaper(napi_env env, napi_callback_info info) {
  int value = 0;
  if (prctl(PR_GET_CHILD_SUBREAPER, &value, 0, 0, 0) != 0) return Fail(env, "prctl(PR_GET_CHILD_SUBREAPER)");
  napi_value result;
  napi_get_boolean(env, value != 0, &result);
  return result;
}

// True when `pid` was reaped, false when it has not exited yet (or is not our child: ECHILD).
static napi_value Reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t pid = 0;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_type_error(env, nullptr, "reap(pid): pid must be a positive integer");
    return nullptr;
  }
  int status = 0;
  pid_t done;
  do {
    done = waitpid(pid, &status, WNOHANG);
  } while (done < 0 && errno == EINTR);
  napi_value result;
  napi_get_boolean(env, done == pid, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
      {"setChildSubreaper", nullptr, SetChildSubreaper, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"isChildSubreaper", nullptr, IsChildSubreaper, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reap", nullptr, Reap, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
