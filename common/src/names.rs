//! Short readable run names such as `brave-heron`.

const ADJECTIVES: [&str; 64] = [
    "able", "agile", "amber", "ancient", "bold", "brave", "bright", "brisk", "calm", "clever",
    "cosmic", "crimson", "curious", "daring", "dapper", "eager", "earnest", "electric", "fancy",
    "fearless", "fierce", "gentle", "glowing", "golden", "grand", "happy", "hidden", "humble",
    "icy", "jolly", "keen", "kind", "lively", "lucky", "lunar", "mellow", "merry", "mighty",
    "misty", "nimble", "noble", "polite", "proud", "quick", "quiet", "rapid", "rosy", "rustic",
    "sandy", "shiny", "silent", "silver", "smart", "solar", "steady", "stellar", "sunny", "swift",
    "tidy", "tranquil", "vivid", "warm", "witty", "zesty",
];

const ANIMALS: [&str; 64] = [
    "albatross",
    "alpaca",
    "badger",
    "beaver",
    "bison",
    "bobcat",
    "caribou",
    "cheetah",
    "condor",
    "coyote",
    "crane",
    "dingo",
    "dolphin",
    "eagle",
    "egret",
    "falcon",
    "ferret",
    "finch",
    "fox",
    "gazelle",
    "gecko",
    "gibbon",
    "heron",
    "hippo",
    "ibex",
    "ibis",
    "jackal",
    "jaguar",
    "koala",
    "lemur",
    "leopard",
    "lynx",
    "magpie",
    "marmot",
    "marten",
    "mole",
    "moose",
    "narwhal",
    "newt",
    "ocelot",
    "osprey",
    "otter",
    "owl",
    "panda",
    "panther",
    "pelican",
    "puffin",
    "quail",
    "raven",
    "reindeer",
    "salmon",
    "seal",
    "sparrow",
    "stoat",
    "swan",
    "tapir",
    "tiger",
    "toucan",
    "turtle",
    "vole",
    "walrus",
    "weasel",
    "wombat",
    "yak",
];

/// A name from 16 random bits (e.g. the low bits of a UUIDv7's random part).
pub fn run_name(seed: u16) -> String {
    let a = ADJECTIVES[usize::from(seed >> 8) % ADJECTIVES.len()];
    let b = ANIMALS[usize::from(seed & 0xff) % ANIMALS.len()];
    format!("{a}-{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_two_words() {
        assert_eq!(run_name(0), "able-albatross");
        assert_eq!(run_name(0x0507), "brave-cheetah");
        let n = run_name(u16::MAX);
        assert_eq!(n.split('-').count(), 2, "{n}");
    }
}
