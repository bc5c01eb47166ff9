#!/usr/bin/env python3
"""Renders cases.json with each fixture's chat_template the way transformers' apply_chat_template does
(jinja2 ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson filter,
raise_exception and strftime_now globals, tools=None, documents=None, the tokenizer's special tokens as
variables) and writes expected.json. strftime_now uses a fixed clock (2026-12-06) so the output is stable.

    python3 render_reference.py   # needs jinja2 (pip or Debian's python3-jinja2)
"""
import datetime, json, os
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = datetime.datetime(2026, 12, 6, 18, 30, 0)


def raise_exception(message):
    raise ValueError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def render(config, case):
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    template = env.from_string(config["chat_template"])
    special = {k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if config.get(k) is not None}
    return template.render(messages=case["messages"], tools=None, documents=None,
                           add_generation_prompt=case["add_generation_prompt"], **special)


def main():
    with open(os.path.join(HERE, "cases.json")) as f:
        cases = json.load(f)
    expected = {}
    for family in sorted(d for d in os.listdir(HERE) if os.path.isdir(os.path.join(HERE, d))):
        with open(os.path.join(HERE, family, "tokenizer_config.json")) as f:
            config = json.load(f)
        expected[family] = {case["name"]: render(config, case) for case in cases}
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
