"""Relation rules on sentences of our own, in the phrasing of real transfer news."""


def relations(found):
    return {(s, r, o) for s, r, o, *_ in found}


def test_sacking_by_club_is_a_fact(extract):
    found = extract("en", "Chelsea have sacked head coach Enzo Maresca after the defeat at Brentford.")
    assert ("Enzo Maresca", "sacked_by", "Chelsea", "", "fact", "") in found


def test_hedged_move_with_source_is_a_rumour_with_its_source(extract):
    found = extract("en", "According to Sky Sport, Massimiliano Allegri could join the Rossoneri next summer.")
    assert ("Massimiliano Allegri", "joins", "AC Milan", "", "rumour", "Sky Sport") in found


def test_source_covers_the_rest_of_the_paragraph(extract):
    text = ("Fabrizio Romano reports that Juventus have made their choice. "
            "Massimiliano Allegri is set to join Juventus on a three-year deal.")
    found = extract("en", text)
    assert ("Massimiliano Allegri", "contract_length", "Juventus", "3", "rumour", "Fabrizio Romano") in found


def test_contract_until_takes_the_year(extract):
    found = extract("en", "The coach remains tied to the Bianconeri, his contract running until June 2027. "
                          "Massimiliano Allegri has a contract with Juventus until 2027.")
    assert ("Massimiliano Allegri", "contract_until", "Juventus") in relations(found)
    assert any(v == "2027" for s, r, o, v, *_ in found if r == "contract_until")


def test_replacement_direction(extract):
    found = relations(extract("en", "Thomas Frank replaced Ange Postecoglou at Tottenham in June."))
    assert ("Thomas Frank", "replaces", "Ange Postecoglou") in found
    assert ("Ange Postecoglou", "replaces", "Thomas Frank") not in found


def test_denied_link(extract):
    found = extract("en", "Real Madrid have ruled out a move for Massimiliano Allegri.")
    assert any(r == "linked_to" and st == "denied" for s, r, o, v, st, src in found)


def test_players_are_transfer_targets_not_coaches(extract):
    found = relations(extract("en", "Napoli want to keep Victor Osimhen, but Chelsea are interested in Victor Osimhen."))
    assert ("Chelsea", "transfer_target", "Victor Osimhen") in found
    assert not any(r in ("linked_to", "joins") and s == "Victor Osimhen" for s, r, o in found)


def test_italian_sacking_and_president(extract):
    text = "Il Torino ha esonerato Paolo Vanoli. Il presidente del Torino Urbano Cairo cerca un sostituto."
    found = relations(extract("it", text))
    assert ("Paolo Vanoli", "sacked_by", "Torino") in found
    assert ("Urbano Cairo", "president_of", "Torino") in found


def test_italian_hedge_and_source(extract):
    found = extract("it", "Secondo la Gazzetta dello Sport, Massimiliano Allegri potrebbe tornare alla Juventus.")
    assert any(s == "Massimiliano Allegri" and o == "Juventus" and st == "rumour" and src == "La Gazzetta dello Sport"
               for s, r, o, v, st, src in found)


def test_italian_contract_length_words(extract):
    found = extract("it", "Massimiliano Allegri ha firmato un biennale con il Milan.")
    assert ("Massimiliano Allegri", "contract_length", "AC Milan", "2", "fact", "") in found


def test_italian_replacement(extract):
    found = relations(extract("it", "Il Torino ha scelto Massimiliano Allegri al posto di Paolo Vanoli."))
    assert ("Massimiliano Allegri", "replaces", "Paolo Vanoli") in found


def test_career_move_years_before_the_article_are_former_jobs(extract):
    found = extract("en", "Massimiliano Allegri joined Juventus in 2014 and won five titles.", date="2021-05-27")
    assert any(r == "former_coach_of" and o == "Juventus" for s, r, o, *_ in found)


def test_career_lists_give_every_club(extract):
    found = relations(extract("en", "Enzo Maresca had stints at Genoa, Crotone and Inter before moving abroad."))
    assert {("Enzo Maresca", "former_coach_of", c) for c in ("Genoa", "Crotone", "Inter")} <= found


def test_past_job_is_told_in_the_past(extract):
    found = relations(extract("en", "Enzo Maresca spent three seasons in charge of Genoa, between 2019 and 2022."))
    assert ("Enzo Maresca", "former_coach_of", "Genoa") in found
    assert ("Enzo Maresca", "coach_of", "Genoa") not in found


def test_a_persons_own_club_is_not_the_other_party(extract):
    text = "Chelsea have considered Fulham boss Marco Silva for the job."
    found = relations(extract("en", text))
    assert ("Marco Silva", "linked_to", "Chelsea") in found
    assert ("Marco Silva", "coach_of", "Fulham") in found
    assert ("Marco Silva", "linked_to", "Fulham") not in found


def test_opponents_never_fill_the_club_slot(extract):
    found = relations(extract("en", "Inter sacked Enzo Maresca after the defeat to Genoa."))
    assert ("Enzo Maresca", "sacked_by", "Inter") in found
    assert not any(o == "Genoa" for s, r, o in found)


def test_a_signature_covers_the_post_before_it(extract):
    found = extract("en", "Massimiliano Allegri is set to join Juventus! Here we go soon. @SkySport")
    assert any(r == "joins" and src == "Sky Sport" for s, r, o, v, st, src in found)


def test_a_club_short_form_names_the_club_of_the_article(extract):
    text = "Manchester United are under pressure. United have sacked Enzo Maresca."
    assert ("Enzo Maresca", "sacked_by", "Manchester United") in relations(extract("en", text))


def test_players_nationality_is_not_a_team(extract):
    text = "Inter fired Enzo Maresca. The Belgium international scored twice."
    assert not any(o == "Belgium" for s, r, o in relations(extract("en", text)))


def test_a_coachs_own_contract_is_his_even_with_a_possessive(extract):
    text = "Fulham are top of the table. Marco Silva's current deal, signed in 2023, runs until the summer of 2027."
    assert ("Marco Silva", "contract_until", "Fulham", "2027", "fact", "") in extract("en", text)


def test_clubs_of_a_playing_career_are_no_coaching_jobs(extract):
    found = relations(extract("en", "As a player, Marco Silva won the league with Inter and had spells at Genoa."))
    assert not any(r in ("former_coach_of", "coach_of") for s, r, o in found)
    found = relations(extract("en", "Marco Silva, who spent his playing career at Crotone, later coached Genoa."))
    assert ("Marco Silva", "former_coach_of", "Genoa") in found
    assert ("Marco Silva", "former_coach_of", "Crotone") not in found


def test_a_departure_takes_the_club_the_text_is_about(extract):
    text = "Chelsea are looking for a new coach. Enzo Maresca left in June to take a break."
    assert ("Enzo Maresca", "leaves", "Chelsea") in relations(extract("en", text))


def test_a_relative_clause_is_about_the_coach_it_hangs_on(extract):
    found = relations(extract("en", "Marco Silva succeeded Enzo Maresca, who left to become head coach of Juventus."))
    assert ("Enzo Maresca", "coach_of", "Juventus") in found
    assert ("Marco Silva", "coach_of", "Juventus") not in found


def test_a_relative_clause_about_a_president_names_no_coach(extract):
    text = "Marco Silva is under pressure. The board, without president Urbano Cairo, who stepped down in May, is split."
    assert not any(r == "leaves" for s, r, o in relations(extract("en", text)))


def test_the_new_club_coach_is_an_appointment(extract):
    found = relations(extract("en", "Massimiliano Allegri is poised to become the new Juventus boss."))
    assert ("Massimiliano Allegri", "joins", "Juventus") in found


def test_a_ruled_out_move_for_a_player_is_a_denied_target(extract):
    text = "Chelsea are busy in the market, but a move for Victor Osimhen has been ruled out."
    assert ("Chelsea", "transfer_target", "Victor Osimhen", "", "denied", "") in extract("en", text)


def test_reviewing_the_coachs_position_is_a_rumoured_sacking(extract):
    found = extract("en", "Tottenham Hotspur's board will meet to review the position of head coach Marco Silva.")
    assert ("Marco Silva", "sacked_by", "Tottenham Hotspur", "", "rumour", "") in found


def test_a_club_left_in_a_past_spell_is_not_the_club_he_leaves_now(extract):
    text = ("Marco Silva keeps Fulham waiting. The coach, who was in charge of Brentford from 2019 to 2021, "
            "is tempted to walk away after the season.")
    found = relations(extract("en", text))
    assert ("Marco Silva", "leaves", "Fulham") in found
    assert ("Marco Silva", "leaves", "Brentford") not in found


def test_italian_resignation_from_a_past_club_is_a_departure_from_it(extract):
    text = "Per Massimiliano Allegri si tratta di un ritorno in panchina dopo le dimissioni dalla Juventus."
    assert ("Massimiliano Allegri", "leaves", "Juventus") in relations(extract("it", text))


def test_italian_sacked_coach_named_in_apposition(extract):
    text = "Il Torino cambia allenatore. Marco Silva prende il posto di Massimiliano Allegri, esonerato lunedì."
    found = relations(extract("it", text))
    assert ("Massimiliano Allegri", "sacked_by", "Torino") in found
    assert ("Marco Silva", "sacked_by", "Torino") not in found


def test_italian_predecessor_is_no_candidate(extract):
    text = "Il Napoli ha inserito Marco Silva nella lista dei possibili eredi di Massimiliano Allegri."
    found = relations(extract("it", text))
    assert ("Marco Silva", "linked_to", "Napoli") in found
    assert ("Massimiliano Allegri", "linked_to", "Napoli") not in found


def test_italian_contract_extended_by_years(extract):
    found = extract("it", "Il Milan ha esteso di due anni il contratto di Massimiliano Allegri.")
    assert ("Massimiliano Allegri", "contract_length", "AC Milan", "2", "fact", "") in found


def test_italian_career_step_before_the_next_job(extract):
    text = "Dopo il Genoa, Massimiliano Allegri ha allenato il Napoli, prima di accasarsi alla Juventus."
    found = relations(extract("it", text, date="2025-06-01"))
    assert ("Massimiliano Allegri", "former_coach_of", "Juventus") in found


def test_the_club_where_a_coach_was_sacked_is_the_one_that_sacked_him(extract):
    text = ("Chelsea are looking for a coach, and the Chelsea board like Enzo Maresca. "
            "He had a brief spell at Genoa, where he was sacked after eleven games.")
    assert ("Enzo Maresca", "sacked_by", "Genoa") in relations(extract("en", text))


def test_a_club_where_a_coach_was_appointed_did_not_sack_him(extract):
    text = "Marco Silva went back to Fulham, where he was appointed for a second time in the summer."
    assert not any(r == "sacked_by" for s, r, o in relations(extract("en", text)))


def test_italian_coach_who_took_over_mid_season_replaces_his_predecessor(extract):
    text = "Al Genoa, dove era subentrato a Marco Silva a novembre, Massimiliano Allegri ha chiuso al nono posto."
    found = relations(extract("it", text))
    assert ("Massimiliano Allegri", "replaces", "Marco Silva") in found
    assert ("Marco Silva", "replaces", "Massimiliano Allegri") not in found


def test_italian_substitution_on_the_pitch_is_no_change_of_coach(extract):
    text = "Marco Silva ha cambiato tutto all'intervallo: Luca Bianchi è subentrato a Mario Rossi."
    assert not any(r == "replaces" for s, r, o in relations(extract("it", text)))


def test_a_source_stops_at_the_paragraph_break(extract):
    text = ("Fabrizio Romano reports that Juventus have made their choice.\n\n"
            "Massimiliano Allegri is set to join Juventus on a three-year deal.")
    assert ("Massimiliano Allegri", "contract_length", "Juventus", "3", "rumour", "") in extract("en", text)


def test_each_article_is_read_on_its_own(extract):
    """What one article says (its clubs, its sentences) never fills a slot in the next one."""
    extract("en", "Chelsea are looking for a new coach.")
    assert not any(r == "leaves" for s, r, o in relations(extract("en", "Enzo Maresca left in June to take a break.")))


def test_a_past_spell_takes_its_period(extract):
    found = extract("en", "Enzo Maresca spent three seasons in charge of Genoa, between 2019 and 2022.")
    assert ("Enzo Maresca", "former_coach_of", "Genoa", "2019/2022", "fact", "") in found


def test_a_job_held_since_a_year_is_current(extract):
    found = extract("en", "Marco Silva has managed Fulham since 2021.")
    assert ("Marco Silva", "coach_of", "Fulham", "", "fact", "") in found
    assert not any(r == "former_coach_of" for s, r, o, *_ in found)


def test_a_headline_alone_makes_no_fact(extract):
    found = extract("en", "Chelsea sack Enzo Maresca\n\nThe club announced the decision on Monday.")
    assert ("Enzo Maresca", "sacked_by", "Chelsea", "", "rumour", "") in found
    found = extract("en", "Enzo Maresca is under pressure.\n\nChelsea sacked him on Monday.")
    assert ("Enzo Maresca", "sacked_by", "Chelsea", "", "fact", "") in found


def test_a_clause_runs_between_the_breaks_around_it():
    import spacy

    from pipeline.relations import DocIndex, RelationExtractor

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    doc = nlp("Allegri, who left Juventus in 2019, could join Milan next summer. He wants it.")
    sentence = DocIndex.of(doc).sentences[0]

    def clause_of(word: str) -> str:
        i = next(t.i for t in doc if t.text == word)
        found = RelationExtractor.clause(doc, i, i + 1, sentence)
        return doc[found.start:found.stop].text

    assert clause_of("could") == "could join Milan next summer."
    assert clause_of("left") == "left Juventus in 2019"
    assert clause_of("Allegri") == "Allegri"


def test_the_doc_index_reads_each_tokens_own_strings():
    """Token strings come from a cache shared by the English and Italian vocabularies."""
    import spacy
    from spacy.tokens import Span

    from pipeline.relations import DocIndex

    for lang, text in (("en", "Chelsea have sacked Enzo Maresca."), ("it", "Il Torino ha esonerato Paolo Vanoli."),
                       ("en", "Torino sacked Paolo Vanoli.")):
        doc = spacy.blank(lang)(text)
        doc.ents = [Span(doc, len(doc) - 3, len(doc) - 1, label="COACH")]
        index = DocIndex.of(doc)
        assert index.lowers == [t.lower_ for t in doc]
        assert index.texts == [t.text for t in doc]
        assert index.lemmas == [t.lemma_ for t in doc]
        assert index.ent_types == [t.ent_type_ for t in doc]
        assert [e.text for e in index.ents] == [e.text for e in doc.ents]


def test_one_pass_finds_each_kind_of_cue_its_own_matcher_finds():
    """Hedges, denials and attribution run as one matcher: per kind, the same matches, in
    the same order, as a matcher of that kind's rules alone."""
    import spacy
    from spacy.tokens import Span

    from pipeline.matching import GatedMatcher
    from pipeline.relations import RelationExtractor
    from pipeline.ruleset import rules_for, with_apostrophe_variants

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    extractor = RelationExtractor(nlp)
    doc = nlp("According to Sky Sport, Chelsea could appoint Enzo Maresca. "
              "Juventus have ruled out a move, Fabrizio Romano reports.")
    doc.ents = [Span(doc, 2, 4, label="MEDIA"), Span(doc, 20, 22, label="JOURNALIST")]
    found = extractor.cue_matches(doc)
    rules = rules_for("en", None)
    for kind, entries, greedy in (("hedge", rules["status"]["hedge"], None), ("denial", rules["status"]["denial"], None),
                                  ("attribution", rules["attribution"], "LONGEST")):
        alone = GatedMatcher(nlp.vocab)
        for entry in entries:
            pattern = [{k: v for k, v in token.items() if k != "role"} for token in entry["pattern"]]
            alone.add(entry["id"], [with_apostrophe_variants(pattern)], greedy=greedy)
        expected = [(doc.vocab.strings[key], start, end) for key, start, end, *_ in alone(doc)]
        assert expected, kind
        assert [(key, start, end) for key, start, end, _ in found[kind]] == expected
