//! The search evaluation set: notes on thirty everyday subjects, each with questions that name
//! the paragraph they should find. Some questions share no word with their paragraph (found by
//! meaning only), some hinge on a rare word, a name or a number (found by words only), most are
//! in between. The eval adds questions about its spoken sentences, its rendered page and its
//! photos.

/// A note: its title, its paragraphs, and the questions it answers (with the paragraph, from
/// 0, each one should land on).
pub struct Note {
    pub title: &'static str,
    pub paragraphs: [&'static str; 2],
    pub questions: [(&'static str, usize); 3],
}

pub const NOTES: [Note; 30] = [
    Note {
        title: "Sourdough notes",
        paragraphs: [
            "Feed the starter with equal weights of rye flour and water the evening before baking.",
            "Bake the loaf in a covered cast iron pot at 250 degrees for twenty minutes, then uncover it.",
        ],
        questions: [
            ("how do I keep my bread culture alive", 0),
            ("oven temperature for the bread", 1),
            ("cast iron pot", 1),
        ],
    },
    Note {
        title: "Car service",
        paragraphs: [
            "The garage on Mill Road replaced the brake pads and the rear tyres in March.",
            "Next oil change is due at 45,000 kilometres; the invoice number was GR-7731.",
        ],
        questions: [
            ("when were the brakes repaired", 0),
            ("GR-7731", 1),
            ("engine lubricant replacement schedule", 1),
        ],
    },
    Note {
        title: "Houseplants",
        paragraphs: [
            "The fern in the bathroom likes humidity and indirect light; mist it twice a week.",
            "Repot the monstera in April into a pot one size larger with chunky bark mix.",
        ],
        questions: [
            ("which plant needs moist air", 0),
            ("monstera", 1),
            ("moving a plant into a bigger container", 1),
        ],
    },
    Note {
        title: "Flight to Lisbon",
        paragraphs: [
            "Flight TP1337 leaves Berlin at 07:40; check in online 24 hours ahead.",
            "The apartment in Alfama has a key box; the code arrives by message on the day.",
        ],
        questions: [
            ("TP1337", 0),
            ("what time is my plane", 0),
            ("how do I get into the rental flat", 1),
        ],
    },
    Note {
        title: "Running plan",
        paragraphs: [
            "Tuesday and Thursday: intervals, six times 800 metres with two minutes of jogging between.",
            "Sunday long run, slow, building from 12 to 21 kilometres before the half marathon.",
        ],
        questions: [
            ("speed work sessions on weekdays", 0),
            ("half marathon preparation", 1),
            ("weekend endurance jog", 1),
        ],
    },
    Note {
        title: "Tax documents",
        paragraphs: [
            "Collect the annual salary statement, the pension contributions and the charity receipts.",
            "The deadline for the return is the 31st of July; the adviser is Mrs Okonkwo.",
        ],
        questions: [
            ("papers needed for the revenue office", 0),
            ("Okonkwo", 1),
            ("when must the tax return be filed", 1),
        ],
    },
    Note {
        title: "Birthday party",
        paragraphs: [
            "Order a chocolate cake with raspberries for twelve people from the bakery on Elm Street.",
            "Invite the neighbours, hang lanterns in the garden, and borrow folding chairs.",
        ],
        questions: [
            ("dessert for the celebration", 0),
            ("outdoor decorations", 1),
            ("folding chairs", 1),
        ],
    },
    Note {
        title: "Bicycle repair",
        paragraphs: [
            "The rear derailleur skips on the smallest cog; adjust the cable tension a quarter turn.",
            "Patch the inner tube, check the tyre for thorns, and pump it to 4.5 bar.",
        ],
        questions: [
            ("gears slipping on my bike", 0),
            ("fixing a flat", 1),
            ("derailleur", 0),
        ],
    },
    Note {
        title: "Wi-Fi setup",
        paragraphs: [
            "The router's admin page is at 192.168.1.1; change the default password first.",
            "Put the mesh satellite in the hallway upstairs so the bedroom gets a signal.",
        ],
        questions: [
            ("192.168.1.1", 0),
            ("securing the internet box", 0),
            ("weak wireless coverage in the bedroom", 1),
        ],
    },
    Note {
        title: "Doctor's advice",
        paragraphs: [
            "Take the antibiotic three times a day with food for seven days, even when feeling better.",
            "Book a follow-up blood test in two weeks to check the iron levels.",
        ],
        questions: [
            ("how long do I take the medicine", 0),
            ("lab appointment for anaemia", 1),
            ("antibiotic", 0),
        ],
    },
    Note {
        title: "Book club",
        paragraphs: [
            "This month we read 'The Remains of the Day' by Kazuo Ishiguro.",
            "We meet at Hannah's flat on the last Friday; bring a snack to share.",
        ],
        questions: [
            ("Ishiguro", 0),
            ("which novel are we discussing", 0),
            ("where is the reading group gathering", 1),
        ],
    },
    Note {
        title: "Moving house",
        paragraphs: [
            "The removal van is booked for the 14th; pack books in small boxes so they stay light.",
            "Tell the bank, the electricity supplier and the doctor about the new address.",
        ],
        questions: [
            ("relocation truck reservation", 0),
            ("who needs my change of address", 1),
            ("electricity supplier", 1),
        ],
    },
    Note {
        title: "Guitar practice",
        paragraphs: [
            "Warm up with chromatic exercises, then the F major barre chord until it rings clean.",
            "Learn the fingerpicking pattern of the folk song slowly with a metronome at 60.",
        ],
        questions: [
            ("barre chord", 0),
            ("keeping time while playing slowly", 1),
            ("finger exercises before playing", 0),
        ],
    },
    Note {
        title: "Camping trip",
        paragraphs: [
            "Pack the tent, two sleeping bags rated to minus five, the stove and spare gas.",
            "The campsite by the lake has no shop, so bring food for three days and water filters.",
        ],
        questions: [
            ("gear for sleeping outdoors in the cold", 0),
            ("provisions since there is nowhere to buy groceries", 1),
            ("water filters", 1),
        ],
    },
    Note {
        title: "Kitchen renovation",
        paragraphs: [
            "The carpenter quoted 4,200 euros for oak worktops and soft-close drawers.",
            "The electrician must move two sockets before the tiles go up behind the hob.",
        ],
        questions: [
            ("price estimate for the wooden counters", 0),
            ("power outlets near the cooker", 1),
            ("soft-close drawers", 0),
        ],
    },
    Note {
        title: "Language learning",
        paragraphs: [
            "Practise Spanish verbs in the past tense for fifteen minutes every morning.",
            "On Wednesdays, talk with Lucía on video to practise conversation.",
        ],
        questions: [
            ("grammar drills before breakfast", 0),
            ("Lucía", 1),
            ("speaking practice with a tutor online", 1),
        ],
    },
    Note {
        title: "Dog care",
        paragraphs: [
            "Biscuit gets one cup of kibble twice a day and a chew stick after his walk.",
            "His vaccinations are due in October at the vet clinic on Harbour Street.",
        ],
        questions: [
            ("how much should the puppy eat", 0),
            ("pet immunisation appointment", 1),
            ("Harbour Street", 1),
        ],
    },
    Note {
        title: "Budget",
        paragraphs: [
            "Rent is 950 a month; groceries average 400; keep 200 aside for savings.",
            "Cancel the unused streaming subscription and the gym membership in January.",
        ],
        questions: [
            ("monthly housing cost", 0),
            ("stop paying for services I don't use", 1),
            ("gym membership", 1),
        ],
    },
    Note {
        title: "Photography course",
        paragraphs: [
            "Shoot in aperture priority at f/2.8 for portraits so the background blurs.",
            "For landscapes use a tripod, f/11 and the golden hour after sunrise.",
        ],
        questions: [
            ("shallow depth of field for people", 0),
            ("tripod", 1),
            ("best light for scenery pictures", 1),
        ],
    },
    Note {
        title: "Wedding speech",
        paragraphs: [
            "Open with the story of how Tom and Priya met on a delayed train to Glasgow.",
            "End with a toast to long journeys and short delays.",
        ],
        questions: [
            ("how the couple first met", 0),
            ("Glasgow", 0),
            ("closing words raising a glass", 1),
        ],
    },
    Note {
        title: "Compost",
        paragraphs: [
            "Mix green kitchen scraps with brown cardboard and leaves in equal parts.",
            "Turn the heap every two weeks so it stays warm and does not smell.",
        ],
        questions: [
            ("what goes into the bin for garden soil", 0),
            ("stop the pile from stinking", 1),
            ("cardboard", 0),
        ],
    },
    Note {
        title: "Job interview",
        paragraphs: [
            "The interview with Northwind Logistics is on Tuesday at 10:30 with the data team.",
            "Prepare an example of a project that failed and what I learned from it.",
        ],
        questions: [
            ("Northwind", 0),
            ("when is the meeting with the employer", 0),
            ("talking about a mistake and lessons learned", 1),
        ],
    },
    Note {
        title: "Knitting",
        paragraphs: [
            "The scarf uses merino wool on 4 mm needles in a simple rib pattern.",
            "Cast on 40 stitches and knit until it is 160 centimetres long.",
        ],
        questions: [
            ("yarn and needle size", 0),
            ("how many loops to start with", 1),
            ("merino", 0),
        ],
    },
    Note {
        title: "Home insurance",
        paragraphs: [
            "Policy HX-55021 covers water damage and theft but not flooding from the river.",
            "To claim, photograph the damage and call the hotline within 48 hours.",
        ],
        questions: [
            ("HX-55021", 0),
            ("what is excluded from my cover", 0),
            ("steps to report a loss", 1),
        ],
    },
    Note {
        title: "Coffee brewing",
        paragraphs: [
            "Use 18 grams of beans, ground medium-fine, for a 250 ml pour-over.",
            "Water just off the boil, about 94 degrees; bloom for thirty seconds first.",
        ],
        questions: [
            ("ratio of grounds to water", 0),
            ("pour-over", 0),
            ("how hot should the kettle be", 1),
        ],
    },
    Note {
        title: "School pickup",
        paragraphs: [
            "Mia finishes at 3:15 on weekdays except Friday, when the chess club runs until 4.",
            "Grandma collects her on Wednesdays and takes her to swimming.",
        ],
        questions: [
            ("chess club", 0),
            ("who fetches my daughter midweek", 1),
            ("end of the school day", 0),
        ],
    },
    Note {
        title: "Solar panels",
        paragraphs: [
            "Twelve panels on the south roof produce about 4,000 kWh a year.",
            "The inverter in the attic shows a red light when the grid connection drops.",
        ],
        questions: [
            ("yearly electricity generation", 0),
            ("warning lamp on the converter box", 1),
            ("kWh", 0),
        ],
    },
    Note {
        title: "Volunteering",
        paragraphs: [
            "Saturday mornings at the food bank: sort donations and pack parcels for families.",
            "Bring gloves; the warehouse is cold in winter.",
        ],
        questions: [
            ("charity work at the weekend", 0),
            ("warehouse", 1),
            ("what to wear in the chilly storage hall", 1),
        ],
    },
    Note {
        title: "Printer trouble",
        paragraphs: [
            "Error E-04 means a paper jam behind the rear flap; open it and pull gently.",
            "Replace the black cartridge, model 305XL, when the page comes out streaky.",
        ],
        questions: [
            ("E-04", 0),
            ("ink running out", 1),
            ("stuck sheet inside the machine", 0),
        ],
    },
    Note {
        title: "Astronomy night",
        paragraphs: [
            "Jupiter and its four largest moons are visible through the small telescope after 10 pm.",
            "The meteor shower peaks on the 13th; go to the dark field outside the village.",
        ],
        questions: [
            ("looking at planets with a scope", 0),
            ("shooting stars", 1),
            ("meteor", 1),
        ],
    },
];

/// Questions about the eval's spoken sentences (by their index in `set::SENTENCES`).
pub const SPOKEN: [(&str, usize); 10] = [
    ("museum opening hours", 0),
    ("when can I visit the gallery", 0),
    ("passport", 1),
    ("documents to bring to the office", 1),
    ("platform four", 2),
    ("rail departure to the seaside", 2),
    ("sunflowers", 3),
    ("what we grew in the vegetable patch", 3),
    ("directions past the bakery", 4),
    ("how to walk to the bridge", 4),
];

/// Questions about the rendered page (`set::PAGE`), each with the line it is on.
pub const PAGE: [(&str, usize); 4] = [
    ("region-based segmentation", 0),
    ("edges where regions meet", 2),
    ("threshold from the histogram", 3),
    ("labelled and measured", 5),
];

/// Questions about the photos (by file name in `set::PHOTOS`).
pub const PHOTOS: [(&str, &str); 8] = [
    ("a cat", "chelsea.png"),
    ("kitten", "chelsea.png"),
    ("a cup of coffee", "coffee.png"),
    ("espresso", "coffee.png"),
    ("a rocket", "rocket.jpg"),
    ("space launch", "rocket.jpg"),
    ("motorcycle", "motorcycle_left.png"),
    ("a motorbike", "motorcycle_left.png"),
];
