// normfuse/normfuse.hpp: the umbrella header: everything normfuse provides.
#pragma once

#include <normfuse/core/axis.hpp>
#include <normfuse/core/axis_list.hpp>
#include <normfuse/core/config.hpp>
#include <normfuse/core/diagnostics.hpp>
#include <normfuse/core/io.hpp>
#include <normfuse/core/shape.hpp>
#include <normfuse/core/tensor.hpp>
#include <normfuse/core/view.hpp>
#include <normfuse/dispatch.hpp>
#include <normfuse/eval/assign.hpp>
#include <normfuse/expr/expression.hpp>
#include <normfuse/expr/functions.hpp>
#include <normfuse/expr/nodes.hpp>
#include <normfuse/expr/operators.hpp>
#include <normfuse/nn/batch_norm.hpp>
#include <normfuse/nn/group_norm.hpp>
#include <normfuse/nn/instance_norm.hpp>
#include <normfuse/nn/layer_norm.hpp>
#include <normfuse/nn/normalize.hpp>
#include <normfuse/nn/rms_norm.hpp>
#include <normfuse/reduce/merge.hpp>
#include <normfuse/reduce/moments.hpp>
#include <normfuse/reduce/reductions.hpp>
