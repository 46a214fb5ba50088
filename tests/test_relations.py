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
