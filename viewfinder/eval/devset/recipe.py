"""The dev-set recipe: scripted videos, real clips and the questions asked about them.

Scripted videos are lists of :class:`Scene` (a background - a solid colour or a stretch of a
clip from ``../shared/media`` - text lines, lines that appear after a delay, lines that scroll up
like film credits, and one spoken sentence, either said by espeak-ng in a given voice and speed
or a recorded prompt from ``../shared/media/speech``). Real clips (:data:`REAL_CLIPS`) are used
unchanged; their answers and windows were read off extracted frames by hand.

Each video is in one split (:data:`SPLITS`), so a calibration fitted on "fit" is tested on
videos it has never seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import ViewfinderError

WIDTH, HEIGHT, FPS = 854, 480, 15
# espeak-ng words per minute: a clear, slightly slow narrator.
SPEECH_RATE = 140
# What a question's answer rests on: heard, read on screen, both, or nowhere (absent).
MODALITIES = ("speech", "text", "both", "none")


class DevsetError(ViewfinderError):
    """The dev set cannot be built (a tool or a media file is missing)."""


@dataclass(frozen=True)
class Scene:
    """A few seconds of one picture, its words and one spoken sentence."""

    # Seconds on screen.
    seconds: float
    # Lines shown from the scene's start (the first is drawn larger, as a title).
    lines: tuple[str, ...] = ()
    # Lines that appear ``late_at`` seconds into the scene (typed text after a cut).
    late_lines: tuple[str, ...] = ()
    late_at: float = 0.0
    # The sentence spoken, starting ``speech_at`` seconds into the scene ("" for silence).
    speech: str = ""
    speech_at: float = 0.5
    # "#rrggbb" background, or "clip.mp4@START" from the shared media directory.
    background: str = "#1e2a38"
    # Text colour.
    ink: str = "#f4f4f4"
    # espeak-ng voice and words per minute: several speakers, so the set is not one voice.
    voice: str = "en-us"
    rate: int = SPEECH_RATE
    # A recorded prompt under the media directory spoken instead of ``speech`` (real voice).
    audio: str = ""
    # A DejaVu / Liberation font file stem ("" = PIL's default font), and text placement.
    font: str = ""
    centered: bool = False
    # Lines that scroll from below the frame to above it during the scene (film credits).
    scroll: tuple[str, ...] = ()
    # A sound bed under the speech, made with sox: "" (none), "noise" or "music".
    bed: str = ""


@dataclass(frozen=True)
class Question:
    """One dev-set question about one video."""

    id: str
    video: str
    # Question type, the row of the per-type accuracy table.
    task: str
    question: str
    # Multiple-choice options (the answer is one of them) or None for an open question.
    options: tuple[str, ...] | None
    # The correct option's text, or for an open question the expected answer.
    answer: str
    # Where the answer is, seconds (None: nowhere, the answer is "not found").
    window: tuple[float, float] | None
    # Open questions: words a correct answer contains (all of them, any order).
    keywords: tuple[str, ...] = field(default_factory=tuple)
    # Where the answer is heard or read: one of MODALITIES.
    modality: str = ""

    @property
    def split(self) -> str:
        """ "fit" or "test": the split of the question's video."""
        return SPLITS[self.video]


VIDEOS: dict[str, tuple[Scene, ...]] = {
    "editor_tour": (
        Scene(
            8,
            ("Notepad Pro: a quick tour", "version 3"),
            speech="Welcome. Today we look at a small text editor for programmers.",
        ),
        Scene(
            9,
            ("Keyboard shortcuts", "Ctrl+S  save", "Ctrl+O  open a file", "Ctrl+Q  quit"),
            speech="To keep your work safe, hold control and press S.",
        ),
        Scene(
            8,
            ("Meeting",),
            speech="The team meets in room twelve on Monday.",
        ),
        Scene(
            9,
            (),
            late_lines=("user@box:~$ git clone https://example.org/pad.git",),
            late_at=0.6,
            speech="First, download the source code.",
            speech_at=2.0,
            background="#000000",
            ink="#39ff14",
        ),
        Scene(
            10,
            ("Supported systems", "Debian 12", "Fedora 40", "FreeBSD 14", "macOS 14"),
            speech="It runs on four systems, but the build server uses Fedora.",
        ),
        Scene(
            8,
            ("Meeting update",),
            speech="Correction: the team now meets in room thirty one.",
        ),
        Scene(
            8,
            ("Thanks for watching", "docs: pad.example.org/help"),
            speech="The manual is online. Thanks for watching.",
        ),
    ),
    "city_notes": (
        Scene(
            9,
            ("Field notes", "day one"),
            speech="The first thing we filmed was the harbour at sunrise.",
            background="city_timelapse.mpg@0",
        ),
        Scene(
            9,
            ("Budget", "cameras 1200", "travel 450", "food 300"),
            speech="The travel costs came to four hundred and fifty euros.",
            background="city_timelapse.mpg@2",
        ),
        Scene(
            9,
            ("Next stop",),
            speech="After the harbour we went to the old market.",
            background="city_timelapse.mpg@4",
        ),
        Scene(
            9,
            (),
            late_lines=("PASSCODE 7319",),
            late_at=0.5,
            speech="The locker code is on the screen now.",
            speech_at=1.5,
            background="city_timelapse.mpg@6",
        ),
    ),
    # A film's end credits: names and roles scroll up over a music bed, no speech about them.
    "film_credits": (
        Scene(
            8,
            ("Harbour Lights", "a short film"),
            speech="And now, the people who made this film.",
            background="#101014",
            voice="en-gb+m3",
            rate=130,
            font="DejaVuSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            30,
            scroll=(
                "Directed by",
                "Mara Lindqvist",
                "",
                "Written by",
                "Tomas Okafor",
                "",
                "Director of Photography",
                "Ines Varga",
                "",
                "Original Music",
                "Kenji Arakawa",
                "",
                "Film Editor",
                "Ruth Abernathy",
                "",
                "Produced by",
                "Leila Haddad",
                "Owen Pritchard",
                "Sofia Brandt",
                "",
                "Filmed on location in Lisbon",
            ),
            background="#101014",
            ink="#e8e0c8",
            font="DejaVuSerif",
            centered=True,
            bed="music",
        ),
        Scene(
            8,
            ("Thank you for watching",),
            speech="No animals were harmed during the making of this film.",
            background="#101014",
            voice="en-gb+m3",
            rate=130,
            font="DejaVuSerif-Bold",
            centered=True,
            bed="music",
        ),
    ),
    # A server how-to: a fast female voice over mild noise, a monospace terminal, a value that
    # changes.
    "server_setup": (
        Scene(
            8,
            ("Setting up the web server", "part 2"),
            speech="In this part we put the web server online.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="LiberationSans-Bold",
            bed="noise",
        ),
        Scene(
            9,
            ("Ports", "HTTP   8080", "HTTPS  8443", "Admin  9090"),
            speech="Visitors reach the encrypted site on port eight four four three.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="DejaVuSansMono",
            bed="noise",
        ),
        Scene(
            9,
            (),
            late_lines=("admin@web01:~$ sudo systemctl restart nginx",),
            late_at=0.5,
            speech="Now restart the service.",
            speech_at=2.0,
            background="#000000",
            ink="#e0e0e0",
            voice="en-us+f3",
            rate=165,
            font="DejaVuSansMono",
            bed="noise",
        ),
        Scene(
            9,
            ("Timeout",),
            speech="The request timeout is set to thirty seconds.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="LiberationSans-Bold",
            bed="noise",
        ),
        Scene(
            9,
            ("Reload", "F5  reload the page", "Ctrl+Shift+R  skip the cache"),
            speech="If the old page still shows, hold control and shift and press R.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="LiberationSans-Bold",
            bed="noise",
        ),
        Scene(
            9,
            ("Timeout update",),
            speech="After testing, we raised the timeout to ninety seconds.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="LiberationSans-Bold",
            bed="noise",
        ),
        Scene(
            8,
            ("Coming up",),
            speech="Next time, we set up nightly backups.",
            background="#2b2d42",
            voice="en-us+f3",
            rate=165,
            font="LiberationSans-Bold",
            bed="noise",
        ),
    ),
    # A bakery's order: a slow British male voice over a quiet music bed, centred serif slides.
    "bakery_order": (
        Scene(
            8,
            ("Corner Bakery", "weekly order"),
            speech="Good morning. Here is this week's order for the cafe.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            10,
            ("On the shelf today", "sourdough", "rye", "baguette", "brioche", "spelt"),
            speech="Five breads are on the shelf today.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            9,
            ("Order",),
            speech="We need twelve loaves of rye for Friday.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            8,
            ("Delivery",),
            speech="The van arrives at half past six.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            9,
            ("Order changed",),
            speech="Update: make that twenty loaves of rye instead.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
        Scene(
            9,
            ("Price list", "sourdough  4.20", "rye  3.80", "brioche  5.10"),
            speech="One of them costs more than the others this week.",
            background="#f3e9d2",
            ink="#3d2b1f",
            voice="en-gb+m3",
            rate=120,
            font="LiberationSerif-Bold",
            centered=True,
            bed="music",
        ),
    ),
    # A voicemail system explained with recorded prompts (a real voice: Allison Smith, asterisk).
    "phone_menu": (
        Scene(
            18,
            ("Voicemail setup", "menu 1"),
            audio="speech/vm-options.wav",
            background="#0b3d2e",
            font="LiberationSans-Bold",
        ),
        Scene(
            16,
            ("Message playback",),
            audio="speech/vm-msginstruct.wav",
            background="#0b3d2e",
            font="LiberationSans-Bold",
        ),
        Scene(
            16,
            ("About the system",),
            audio="speech/demo-moreinfo.wav",
            background="#0b3d2e",
            font="LiberationSans-Bold",
        ),
        Scene(
            6,
            ("Sign in",),
            audio="speech/auth-incorrect.wav",
            background="#0b3d2e",
            font="LiberationSans-Bold",
        ),
    ),
}

# Real clips from the shared media directory, used unchanged (see its README for licences).
REAL_CLIPS: dict[str, str] = {
    "hello_terminal": "hello_terminal.mp4",
    "display_settings": "display_settings.webm",
    "message_board": "message_board.ogv",
    "channel_ident_slides": "channel_ident_slides.mp4",
    "wanna_work_together": "wanna_work_together.mp4",
}
# Seconds of each real clip (ffprobe), for the recipe's consistency test.
REAL_SECONDS: dict[str, float] = {
    "hello_terminal": 8.3,
    "display_settings": 37.0,
    "message_board": 22.0,
    "channel_ident_slides": 47.0,
    "wanna_work_together": 180.0,
}
# Whole videos are held out: a calibration fitted on "fit" is measured on unseen videos.
SPLITS: dict[str, str] = {
    "editor_tour": "fit",
    "film_credits": "fit",
    "server_setup": "fit",
    "message_board": "fit",
    "channel_ident_slides": "fit",
    "city_notes": "test",
    "bakery_order": "test",
    "phone_menu": "test",
    "hello_terminal": "test",
    "display_settings": "test",
    "wanna_work_together": "test",
}


def video_file(name: str) -> str:
    """File name of video ``name`` in the built set (scripted videos are rendered as mp4)."""
    return REAL_CLIPS.get(name, f"{name}.mp4")


def video_seconds(name: str) -> float:
    """Length of video ``name`` in seconds."""
    if name in REAL_CLIPS:
        return REAL_SECONDS[name]
    return sum(s.seconds for s in VIDEOS[name])


def scene_starts(name: str) -> list[float]:
    """Start second of each scene of scripted video ``name``."""
    starts, t = [], 0.0
    for scene in VIDEOS[name]:
        starts.append(t)
        t += scene.seconds
    return starts


def scene_window(name: str, first: int, last: int | None = None) -> tuple[float, float]:
    """From the start of scene ``first`` to the end of scene ``last`` (default: the same)."""
    starts = scene_starts(name)
    last = first if last is None else last
    return (starts[first], starts[last] + VIDEOS[name][last].seconds)


QUESTIONS: tuple[Question, ...] = (
    # --- editor_tour
    Question(
        "e1",
        "editor_tour",
        "key",
        "Which key combination stores the document?",
        ("Ctrl+O", "Ctrl+S", "Ctrl+Q", "Ctrl+Z"),
        "Ctrl+S",
        (8, 17),
        modality="both",
    ),
    Question(
        "e2",
        "editor_tour",
        "paraphrase",
        "What kind of program is being introduced?",
        ("a web browser", "a text editor", "a music player", "a photo viewer"),
        "a text editor",
        (0, 8),
        modality="speech",
    ),
    Question(
        "e3",
        "editor_tour",
        "said_twice",
        "In which room does the team meet after the change?",
        ("room 12", "room 31", "room 13", "room 21"),
        "room 31",
        (44, 52),
        modality="speech",
    ),
    Question(
        "e4",
        "editor_tour",
        "first",
        "Which room was announced first?",
        ("room 31", "room 12", "room 13", "room 21"),
        "room 12",
        (17, 25),
        modality="speech",
    ),
    Question(
        "e5",
        "editor_tour",
        "typed_after_cut",
        "Which command is typed in the terminal?",
        (
            "git pull origin main",
            "git clone https://example.org/pad.git",
            "wget https://example.org/pad.tar",
            "svn checkout pad",
        ),
        "git clone https://example.org/pad.git",
        (25, 34),
        modality="text",
    ),
    Question(
        "e6",
        "editor_tour",
        "list",
        "Which of these systems is NOT on the supported list?",
        ("Debian 12", "Fedora 40", "Windows 11", "FreeBSD 14"),
        "Windows 11",
        (34, 44),
        modality="text",
    ),
    Question(
        "e7",
        "editor_tour",
        "paraphrase",
        "Which operating system does the build machine run?",
        ("Debian", "Fedora", "FreeBSD", "macOS"),
        "Fedora",
        (34, 44),
        modality="speech",
    ),
    Question(
        "e8",
        "editor_tour",
        "open",
        "Where can the manual be found?",
        None,
        "pad.example.org/help",
        (52, 60),
        ("pad.example.org",),
        modality="text",
    ),
    Question(
        "e9",
        "editor_tour",
        "open_absent",
        "What is the price of the editor?",
        None,
        "not found",
        None,
        modality="none",
    ),
    # --- city_notes
    Question(
        "c1",
        "city_notes",
        "number",
        "How much was spent on getting there?",
        ("300 euros", "450 euros", "1200 euros", "540 euros"),
        "450 euros",
        (9, 18),
        modality="both",
    ),
    Question(
        "c2",
        "city_notes",
        "first",
        "What was filmed first?",
        ("the old market", "the harbour", "the train station", "the cathedral"),
        "the harbour",
        (0, 9),
        modality="speech",
    ),
    Question(
        "c3",
        "city_notes",
        "list",
        "Which budget line is the largest?",
        ("food", "travel", "cameras", "hotel"),
        "cameras",
        (9, 18),
        modality="text",
    ),
    Question(
        "c4",
        "city_notes",
        "typed_after_cut",
        "What is the code for the locker?",
        ("7319", "7391", "1937", "3719"),
        "7319",
        (27, 36),
        modality="text",
    ),
    Question(
        "c5",
        "city_notes",
        "open",
        "Where did they go after the harbour?",
        None,
        "the old market",
        (18, 27),
        ("market",),
        modality="speech",
    ),
    # --- film_credits (scrolling credits: text only)
    Question(
        "f1",
        "film_credits",
        "credits",
        "Who composed the score?",
        ("Ines Varga", "Kenji Arakawa", "Tomas Okafor", "Ruth Abernathy"),
        "Kenji Arakawa",
        scene_window("film_credits", 1),
        modality="text",
    ),
    Question(
        "f2",
        "film_credits",
        "credits",
        "Who was the cinematographer?",
        ("Mara Lindqvist", "Leila Haddad", "Ines Varga", "Sofia Brandt"),
        "Ines Varga",
        scene_window("film_credits", 1),
        modality="text",
    ),
    Question(
        "f3",
        "film_credits",
        "list_all",
        "Name everyone credited as a producer.",
        None,
        "Leila Haddad, Owen Pritchard, Sofia Brandt",
        scene_window("film_credits", 1),
        ("Haddad", "Pritchard", "Brandt"),
        modality="text",
    ),
    Question(
        "f4",
        "film_credits",
        "list",
        "Which of these people does not appear in the credits?",
        ("Mara Lindqvist", "Ruth Abernathy", "Daniel Moreau", "Leila Haddad"),
        "Daniel Moreau",
        scene_window("film_credits", 1),
        modality="text",
    ),
    Question(
        "f5",
        "film_credits",
        "first",
        "Which job is credited before all the others?",
        ("directing", "writing", "music", "editing"),
        "directing",
        scene_window("film_credits", 1),
        modality="text",
    ),
    Question(
        "f6",
        "film_credits",
        "credits",
        "Who cut the film together?",
        None,
        "Ruth Abernathy",
        scene_window("film_credits", 1),
        ("Abernathy",),
        modality="text",
    ),
    Question(
        "f7",
        "film_credits",
        "open",
        "In which city was it shot?",
        None,
        "Lisbon",
        scene_window("film_credits", 1),
        ("Lisbon",),
        modality="text",
    ),
    Question(
        "f8",
        "film_credits",
        "open_absent",
        "Who designed the costumes?",
        None,
        "not found",
        None,
        modality="none",
    ),
    # --- server_setup
    Question(
        "s1",
        "server_setup",
        "number",
        "Which port serves the encrypted site?",
        ("8080", "8443", "9090", "4433"),
        "8443",
        scene_window("server_setup", 1),
        modality="both",
    ),
    Question(
        "s2",
        "server_setup",
        "typed_after_cut",
        "What is run in the shell right after the cut?",
        (
            "sudo systemctl stop nginx",
            "sudo apt install nginx",
            "sudo systemctl restart nginx",
            "sudo reboot",
        ),
        "sudo systemctl restart nginx",
        scene_window("server_setup", 2),
        modality="text",
    ),
    Question(
        "s3",
        "server_setup",
        "said_twice",
        "How long may a request take once the setting was changed?",
        ("30 seconds", "60 seconds", "90 seconds", "19 seconds"),
        "90 seconds",
        scene_window("server_setup", 5),
        modality="speech",
    ),
    Question(
        "s4",
        "server_setup",
        "first",
        "What was the request time limit originally?",
        ("90 seconds", "30 seconds", "13 seconds", "60 seconds"),
        "30 seconds",
        scene_window("server_setup", 3),
        modality="speech",
    ),
    Question(
        "s5",
        "server_setup",
        "key",
        "Which key combination bypasses the stored copy of the page?",
        ("F5", "Ctrl+R", "Ctrl+Shift+R", "Shift+F5"),
        "Ctrl+Shift+R",
        scene_window("server_setup", 4),
        modality="both",
    ),
    Question(
        "s6",
        "server_setup",
        "list",
        "Which of these port numbers is not on the ports slide?",
        ("8080", "8443", "9090", "2222"),
        "2222",
        scene_window("server_setup", 1),
        modality="text",
    ),
    Question(
        "s7",
        "server_setup",
        "open",
        "What will the next episode be about?",
        None,
        "nightly backups",
        scene_window("server_setup", 6),
        ("backup",),
        modality="speech",
    ),
    Question(
        "s8",
        "server_setup",
        "open_absent",
        "What is the server's IP address?",
        None,
        "not found",
        None,
        modality="none",
    ),
    Question(
        "s9",
        "server_setup",
        "paraphrase",
        "What is the goal of this part of the series?",
        (
            "writing a database",
            "putting a web server online",
            "designing a logo",
            "installing a printer",
        ),
        "putting a web server online",
        scene_window("server_setup", 0),
        modality="both",
    ),
    # --- bakery_order
    Question(
        "b1",
        "bakery_order",
        "said_twice",
        "How many rye loaves are wanted in the end?",
        ("12", "16", "20", "24"),
        "20",
        scene_window("bakery_order", 4),
        modality="speech",
    ),
    Question(
        "b2",
        "bakery_order",
        "first",
        "How many rye loaves were asked for at first?",
        ("20", "12", "2", "21"),
        "12",
        scene_window("bakery_order", 2),
        modality="speech",
    ),
    Question(
        "b3",
        "bakery_order",
        "list_all",
        "Name every bread on the shelf today.",
        None,
        "sourdough, rye, baguette, brioche, spelt",
        scene_window("bakery_order", 1),
        ("sourdough", "rye", "baguette", "brioche", "spelt"),
        modality="text",
    ),
    Question(
        "b4",
        "bakery_order",
        "list",
        "Which bread is missing from today's shelf?",
        ("rye", "spelt", "ciabatta", "brioche"),
        "ciabatta",
        scene_window("bakery_order", 1),
        modality="text",
    ),
    Question(
        "b5",
        "bakery_order",
        "number",
        "What does a rye loaf cost?",
        ("4.20", "3.80", "5.10", "8.30"),
        "3.80",
        scene_window("bakery_order", 5),
        modality="text",
    ),
    Question(
        "b6",
        "bakery_order",
        "number",
        "When does the delivery vehicle come?",
        ("6:00", "6:30", "7:30", "5:30"),
        "6:30",
        scene_window("bakery_order", 3),
        modality="speech",
    ),
    Question(
        "b7",
        "bakery_order",
        "open_absent",
        "What is the bakery's phone number?",
        None,
        "not found",
        None,
        modality="none",
    ),
    Question(
        "b8",
        "bakery_order",
        "paraphrase",
        "Which item is the most expensive this week?",
        ("sourdough", "rye", "brioche", "baguette"),
        "brioche",
        scene_window("bakery_order", 5),
        modality="text",
    ),
    # --- phone_menu (recorded prompts: real speech)
    Question(
        "p1",
        "phone_menu",
        "key",
        "In the setup menu, which key lets you pick a new password?",
        ("1", "3", "5", "star"),
        "5",
        scene_window("phone_menu", 0),
        modality="speech",
    ),
    Question(
        "p2",
        "phone_menu",
        "key",
        "While listening to messages, which key erases one?",
        ("zero", "4", "6", "pound"),
        "zero",
        scene_window("phone_menu", 1),
        modality="speech",
    ),
    Question(
        "p3",
        "phone_menu",
        "first",
        "What is the first choice offered in the setup menu?",
        (
            "recording your busy message",
            "recording your unavailable message",
            "recording your name",
            "changing your password",
        ),
        "recording your unavailable message",
        scene_window("phone_menu", 0),
        modality="speech",
    ),
    Question(
        "p4",
        "phone_menu",
        "paraphrase",
        "On which operating system does the described phone platform run?",
        ("Windows", "Linux", "macOS", "FreeBSD"),
        "Linux",
        scene_window("phone_menu", 2),
        modality="speech",
    ),
    Question(
        "p5",
        "phone_menu",
        "open",
        "Which website gives more information?",
        None,
        "www.asterisk.org",
        scene_window("phone_menu", 2),
        ("asterisk",),
        modality="speech",
    ),
    Question(
        "p6",
        "phone_menu",
        "open_absent",
        "How many new messages are waiting in the mailbox?",
        None,
        "not found",
        None,
        modality="none",
    ),
    Question(
        "p7",
        "phone_menu",
        "paraphrase",
        "Why was the sign-in refused?",
        ("the password was wrong", "the line was busy", "the mailbox was full", "it timed out"),
        "the password was wrong",
        scene_window("phone_menu", 3),
        modality="speech",
    ),
    Question(
        "p8",
        "phone_menu",
        "key",
        "Which key takes you back to the main menu?",
        ("pound", "star", "0", "9"),
        "star",
        scene_window("phone_menu", 0),
        modality="speech",
    ),
    # --- hello_terminal (real clip; the speaker's words are not annotated)
    Question(
        "h1",
        "hello_terminal",
        "typed_after_cut",
        "Which directory's contents does the user list in the terminal?",
        ("/etc", "/usr", "/home", "/var"),
        "/usr",
        (3.0, 8.3),
        modality="text",
    ),
    Question(
        "h2",
        "hello_terminal",
        "list",
        "Which of these entries is not in the directory listing?",
        ("bin", "lib64", "share", "opt"),
        "opt",
        (4.5, 8.3),
        modality="text",
    ),
    Question(
        "h3",
        "hello_terminal",
        "paraphrase",
        "What greeting heads the screen?",
        ("Hello world", "Good morning", "Welcome back", "Hi there"),
        "Hello world",
        (0.0, 8.3),
        modality="text",
    ),
    Question(
        "h4",
        "hello_terminal",
        "open",
        "Under which user name is the shell running?",
        None,
        "eriberto",
        (0.0, 8.3),
        ("eriberto",),
        modality="text",
    ),
    # --- display_settings (real clip, no sound)
    Question(
        "d1",
        "display_settings",
        "number",
        "What resolution does the external screen get?",
        ("1024 x 768", "1280 x 1024", "1920 x 1080", "1366 x 768"),
        "1280 x 1024",
        (7.0, 24.0),
        modality="text",
    ),
    Question(
        "d2",
        "display_settings",
        "paraphrase",
        "Who made the second monitor?",
        ("Dell", "Acer", "Samsung", "Philips"),
        "Acer",
        (4.0, 28.0),
        modality="text",
    ),
    Question(
        "d3",
        "display_settings",
        "open",
        "Besides keeping the new setup, what does the confirmation prompt offer?",
        None,
        "Restore Previous Configuration",
        (30.0, 34.0),
        ("restore", "previous"),
        modality="text",
    ),
    Question(
        "d4",
        "display_settings",
        "first",
        "What is searched for before the settings window opens?",
        ("monitor", "display", "screen", "settings"),
        "display",
        (1.0, 4.0),
        modality="text",
    ),
    Question(
        "d5",
        "display_settings",
        "open_absent",
        "What refresh rate is the monitor set to?",
        None,
        "not found",
        None,
        modality="none",
    ),
    # --- message_board (real clip, no sound)
    Question(
        "m1",
        "message_board",
        "first",
        "Which message is posted first?",
        (
            "This is the message board.",
            "Hello world!",
            "You can create it yourself using WebKitGTK+ in only fifteen minutes.",
            "Goodbye!",
        ),
        "Hello world!",
        (0.0, 6.0),
        modality="text",
    ),
    Question(
        "m2",
        "message_board",
        "number",
        "According to the last message, how long does building it take?",
        ("five minutes", "fifteen minutes", "fifty minutes", "an hour"),
        "fifteen minutes",
        (9.0, 22.0),
        modality="text",
    ),
    Question(
        "m3",
        "message_board",
        "open",
        "Which toolkit does the board say it can be built with?",
        None,
        "WebKitGTK+",
        (9.0, 22.0),
        ("WebKitGTK",),
        modality="text",
    ),
    Question(
        "m4",
        "message_board",
        "typed_after_cut",
        "What is the second message typed into the box?",
        (
            "Hello world!",
            "This is the message board.",
            "Welcome to the board.",
            "You can create it yourself.",
        ),
        "This is the message board.",
        (3.0, 10.0),
        modality="text",
    ),
    # --- channel_ident_slides (real clip; the spoken channel names are not annotated)
    Question(
        "ch1",
        "channel_ident_slides",
        "paraphrase",
        "Which research organisation's logo is on the slides?",
        ("Max Planck", "Fraunhofer", "Dolby", "BBC"),
        "Fraunhofer",
        (0.0, 47.0),
        modality="text",
    ),
    Question(
        "ch2",
        "channel_ident_slides",
        "number",
        "Which EBU Tech document number is cited?",
        ("3343", "3250", "3304", "3341"),
        "3304",
        (9.0, 35.0),
        modality="text",
    ),
    Question(
        "ch3",
        "channel_ident_slides",
        "first",
        "Which caption is shown first?",
        (
            "EBU Tech 3304-4.1 BLITS",
            "Spoken Channel Identification (English)",
            "www.iis.fraunhofer.de/amm",
            "EBU Tech 3304-4.2 EBU Multichannel Ident",
        ),
        "Spoken Channel Identification (English)",
        (0.0, 9.0),
        modality="text",
    ),
    Question(
        "ch4",
        "channel_ident_slides",
        "open",
        "Which web address is shown at the end?",
        None,
        "www.iis.fraunhofer.de/amm",
        (35.0, 47.0),
        ("fraunhofer.de",),
        modality="text",
    ),
    # --- wanna_work_together (real clip: an animation with closing credits)
    Question(
        "w1",
        "wanna_work_together",
        "credits",
        "Who did the voice-over?",
        ("Ryan Junell", "Sara Kraft", "Eric Steuer", "Lesser"),
        "Sara Kraft",
        (156.0, 159.5),
        modality="text",
    ),
    Question(
        "w2",
        "wanna_work_together",
        "credits",
        "Who wrote the script?",
        None,
        "Eric Steuer",
        (158.0, 162.0),
        ("Steuer",),
        modality="text",
    ),
    Question(
        "w3",
        "wanna_work_together",
        "list",
        "Which of these organisations is not thanked in the closing credits?",
        ("Red Hat", "Omidyar Network", "Stanford Law School", "Mozilla Foundation"),
        "Mozilla Foundation",
        (161.0, 174.0),
        modality="text",
    ),
    Question(
        "w4",
        "wanna_work_together",
        "open",
        "Which web address is shown for licensing your work?",
        None,
        "http://creativecommons.org",
        (104.0, 108.0),
        ("creativecommons.org",),
        modality="text",
    ),
    Question(
        "w5",
        "wanna_work_together",
        "number",
        "How long does getting a licence take, according to the animation?",
        ("an hour", "a minute", "a day", "a week"),
        "a minute",
        (100.0, 105.0),
        modality="both",
    ),
    Question(
        "w6",
        "wanna_work_together",
        "first",
        "Which credit comes first after the words The End?",
        ("narrator", "script", "animation and design", "music and sound design"),
        "animation and design",
        (152.0, 156.0),
        modality="text",
    ),
)
