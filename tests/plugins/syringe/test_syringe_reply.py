"""Reading NE-1000 replies: STX, address, status, data, ETX."""

import pytest

from labrun_syringe.reply import ALARMS, ERRORS, STATUSES, GarbledReply, Reply, parse


@pytest.mark.parametrize("letter", list(STATUSES))
def test_each_status_letter_is_read(letter: str) -> None:
    reply = parse(b"\x0200" + letter.encode() + b"\x03")
    assert reply == Reply(0, letter)
    assert reply.state == STATUSES[letter]


def test_data_after_the_status_is_kept() -> None:
    assert parse(b"\x0207IDIS I1.500W0.000ML\x03") == Reply(7, "I", "DIS I1.500W0.000ML")
    assert parse(b"\x0200SNE1000V3.928\x03") == Reply(0, "S", "NE1000V3.928")


@pytest.mark.parametrize(
    ("letter", "text"),
    [
        ("S", "the pump stalled (alarm S)"),
        ("R", "the pump was reset: its power was interrupted (alarm R)"),
        ("T", "the safe-mode communication timeout expired (alarm T)"),
        ("E", "the pumping program has an error (alarm E)"),
        ("O", "a pumping phase is out of range (alarm O)"),
    ],
)
def test_an_alarm_is_read_with_its_meaning(letter: str, text: str) -> None:
    reply = parse(b"\x0200A?" + letter.encode() + b"\x03")
    assert reply == Reply(0, "A", alarm=letter)
    assert reply.alarm_text() == text
    assert letter in ALARMS


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("NA", "the command is not applicable now (?NA)"),
        ("OOR", "a value is out of range (?OOR)"),
        ("COM", "the command or its argument is invalid (?COM)"),
        ("IGN", "the pump ignored the command (?IGN)"),
        ("", "the pump does not know the command (?)"),
        ("XYZ", "the pump reports an error this driver does not know (?XYZ)"),
    ],
)
def test_an_error_is_read_with_its_meaning(code: str, text: str) -> None:
    reply = parse(b"\x0200I?" + code.encode() + b"\x03")
    assert reply == Reply(0, "I", error=code)
    assert reply.error_text() == text
    assert code in ERRORS or code == "XYZ"


def test_noise_before_stx_is_dropped() -> None:
    assert parse(b"\x00\xff\x0200S\x03") == Reply(0, "S")


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"00S\x03", "the reply does not start with STX"),
        (b"\x0200S", "the reply does not end with ETX"),
        (b"\x0200S\xe9\x03", "the reply holds bytes that are not ASCII"),
        (b"\x02\x03", "the reply is not an address and a status"),
        (b"\x020S\x03", "the reply is not an address and a status"),
        (b"\x0200Q\x03", "the reply is not an address and a status"),
        (b"\x0200A?Z\x03", "the reply is not an address and a status"),
        (b"\x0200S\r\n\x03", "the reply is not an address and a status"),
    ],
)
def test_a_garbled_reply_says_what_is_wrong(frame: bytes, reason: str) -> None:
    with pytest.raises(GarbledReply) as raised:
        parse(frame)
    assert str(raised.value) == reason
