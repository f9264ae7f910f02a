#include "ferry/sched/cycle.hh"

#include <unordered_map>

namespace ferry {

namespace {

std::string describe_cycle(const StoreDir& dir, const std::vector<StorePath>& cycle) {
    if (cycle.size() < 2) return "cycle detected in the references";
    auto message = fmt::format("cycle detected in the references of '{}' from '{}'", dir.print(cycle.front()),
                               dir.print(cycle[cycle.size() - 2]));
    if (cycle.size() <= 3) return message;
    message += "; the cycle: ";
    for (size_t i = 0; i < cycle.size(); ++i)
        message += (i ? " -> '" : "'") + dir.print(cycle[i]) + "'";
    return message;
}

} // namespace

CycleError::CycleError(const StoreDir& dir, const std::vector<StorePath>& cycle)
    : Error(describe_cycle(dir, cycle)) {}

std::vector<StorePath> find_cycle(const StorePathSet& nodes, const SuccessorsFn& successors) {
    enum class Mark : uint8_t { unseen, on_stack, done };
    // Keyed by the interned base name: a pointer, hashed and compared at no cost.
    std::unordered_map<const std::string*, Mark> marks;
    marks.reserve(nodes.size());
    for (const auto& n : nodes)
        marks.emplace(&n.to_string(), Mark::unseen);

    struct Frame {
        StorePath node;
        std::vector<StorePath> next;
        size_t pos = 0;
    };
    std::vector<Frame> stack;
    auto push = [&](const StorePath& node) {
        marks[&node.to_string()] = Mark::on_stack;
        Frame f{node, {}, 0};
        successors(node, [&](const StorePath& s) {
            if (s != node && marks.count(&s.to_string())) f.next.push_back(s);
        });
        stack.push_back(std::move(f));
    };
    for (const auto& root : nodes) {
        if (marks[&root.to_string()] != Mark::unseen) continue;
        push(root);
        while (!stack.empty()) {
            auto& top = stack.back();
            if (top.pos == top.next.size()) {
                marks[&top.node.to_string()] = Mark::done;
                stack.pop_back();
                continue;
            }
            StorePath next = top.next[top.pos++];
            auto mark = marks[&next.to_string()];
            if (mark == Mark::unseen) {
                push(next);
            } else if (mark == Mark::on_stack) {
                std::vector<StorePath> cycle;
                auto it =
                    std::find_if(stack.begin(), stack.end(), [&](const Frame& f) { return f.node == next; });
                for (; it != stack.end(); ++it)
                    cycle.push_back(it->node);
                cycle.push_back(next);
                return cycle;
            }
        }
    }
    return {};
}

} // namespace ferry
