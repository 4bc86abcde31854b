"""The question-answering agent: a LangGraph loop (plan, retrieve, select clips, allocate the
visual-token budget, answer, reflect) over one video's index, and the simpler strategies
(``retrieve``, ``uniform``) it is compared with."""
