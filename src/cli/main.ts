console.log("wharf: no listener exists yet");
