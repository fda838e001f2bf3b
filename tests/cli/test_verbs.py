"""A command line naming one verb registers only that verb's module: the list must say truly what each registers."""

from __future__ import annotations

import argparse

from console.cli import build_parser
from console.cli.verbs import VERB_MODULES, verb_modules


def _registered(parser: argparse.ArgumentParser) -> list[str]:
    (group,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return list(group.choices)


def test_each_module_registers_exactly_the_commands_listed_for_it():
    for (name, commands), module in zip(VERB_MODULES, verb_modules()):
        parser = argparse.ArgumentParser()
        module.register(parser.add_subparsers(), [argparse.ArgumentParser(add_help=False)] * 2)
        assert (name, tuple(_registered(parser))) == (name, commands)


def test_a_named_command_builds_the_same_sub_parser_as_the_whole_command_line():
    whole = build_parser()
    for _, commands in VERB_MODULES:
        for command in commands:
            alone = build_parser(command=command)
            assert _registered(alone) == list(commands)
            whole_subs = dict(zip(_registered(whole), _subparsers(whole)))
            alone_subs = dict(zip(_registered(alone), _subparsers(alone)))
            assert alone_subs[command].format_help() == whole_subs[command].format_help()


def test_an_unknown_or_missing_command_registers_every_verb():
    everything = [command for _, commands in VERB_MODULES for command in commands]
    assert _registered(build_parser(command="nonsense")) == everything
    assert _registered(build_parser()) == everything


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    (group,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return list(group.choices.values())
